// The widget's CSS. It lives inside the shadow root, so the shop's styles cannot reach it and it
// cannot leak into the shop. `--zora-accent` / `--zora-on-accent` are set on the root element.

export const CSS_TEXT = `
:host{all:initial}
*,*::before,*::after{box-sizing:border-box}
.root{position:fixed;bottom:20px;right:20px;z-index:2147483000;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;-webkit-font-smoothing:antialiased;text-align:left}
.root.left{right:auto;left:20px}
button{font:inherit;cursor:pointer}
.launcher{position:relative;display:flex;align-items:center;justify-content:center;width:56px;height:56px;padding:0;border:0;border-radius:50%;background:var(--zora-accent);color:var(--zora-on-accent);box-shadow:0 4px 14px rgba(0,0,0,.25);transition:transform .15s ease}
.launcher:hover{transform:scale(1.06)}
.launcher:focus-visible,.close:focus-visible,.attach:focus-visible,.send:focus-visible{outline:3px solid var(--zora-accent);outline-offset:3px}
.launcher svg{width:26px;height:26px;fill:currentColor}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#d1242f;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}
[hidden]{display:none!important}
.panel{position:absolute;bottom:72px;right:0;display:flex;flex-direction:column;width:370px;height:min(580px,calc(100vh - 110px));overflow:hidden;background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);animation:zora-in .18s ease-out}
.left .panel{right:auto;left:0}
@keyframes zora-in{from{opacity:0;transform:translateY(10px)}to{opacity:1;transform:none}}
.head{display:flex;align-items:center;gap:8px;padding:12px 10px 12px 16px;background:var(--zora-accent);color:var(--zora-on-accent)}
.logo{width:32px;height:32px;border-radius:6px;object-fit:cover;background:#fff}
.title{margin:0;font-size:16px;font-weight:600;line-height:1.2}
.conn{font-size:12px;opacity:.85}
.away{margin:0;padding:8px 14px;background:#fff7e6;color:#6b4500;font-size:13px;border-bottom:1px solid #f0dcb0}
.away[hidden]{display:none}
.close,.attach{display:flex;align-items:center;justify-content:center;width:36px;height:36px;padding:0;border:0;border-radius:8px;background:transparent;color:inherit}
.close{margin-left:auto}
.attach{height:42px;color:#57606a}
.close:hover,.attach:hover{background:rgba(127,127,127,.2)}
.close svg,.attach svg{width:18px;height:18px;stroke:currentColor;stroke-width:2.2;fill:none}
.attach svg{width:20px;height:20px;stroke-width:1.8;stroke-linecap:round}
.log{flex:1;display:flex;flex-direction:column;gap:10px;overflow-y:auto;padding:14px 12px;background:#f6f7f9;overscroll-behavior:contain}
.msg{display:flex;flex-direction:column;align-items:flex-start;align-self:flex-start;max-width:82%}
.msg.me{align-items:flex-end;align-self:flex-end}
.author{margin:0 4px 2px;font-size:12px;font-weight:600;color:#57606a}
.bubble{padding:8px 12px;border:1px solid #e1e4e8;border-radius:14px;background:#fff;white-space:pre-wrap;overflow-wrap:anywhere}
.me .bubble{border-color:transparent;background:var(--zora-accent);color:var(--zora-on-accent)}
.files{display:flex;flex-direction:column;align-items:inherit;gap:4px;margin-top:4px}
.files:empty{display:none}
.file{max-width:100%;padding:6px 10px;border:1px solid #e1e4e8;border-radius:10px;background:#fff;color:#1f2328;font-size:13px;overflow-wrap:anywhere}
a.file{color:#0b57d0}
.file:has(img){padding:0;overflow:hidden}
.file img{display:block;max-width:100%;max-height:240px}
.meta{margin:3px 4px 0;font-size:11px;color:#6e7781}
.failed .bubble{opacity:.65}
.failed .meta{color:#b42318}
.ferr{padding:6px 12px 0;font-size:12px;color:#b42318;background:#fff}
.ferr:empty{display:none}
.form{display:flex;align-items:flex-end;gap:8px;margin:0;padding:10px;border-top:1px solid #e1e4e8;background:#fff}
.input{flex:1;min-height:42px;max-height:140px;margin:0;padding:9px 12px;border:1px solid #c9ced4;border-radius:10px;background:#fff;color:#1f2328;font:inherit;font-size:16px;line-height:1.35;resize:none}
.input:focus{outline:2px solid var(--zora-accent);outline-offset:-1px}
.send{height:42px;padding:0 16px;border:0;border-radius:10px;background:var(--zora-accent);color:var(--zora-on-accent);font-weight:600}
.send:disabled,.input:disabled,.attach:disabled{cursor:not-allowed;opacity:.6}
.prechat{display:flex;flex-direction:column;gap:6px;padding:12px;border-top:1px solid #e1e4e8;background:#fff}
.prechat label{font-size:13px;font-weight:600;color:#424a53}
.pcintro{margin:0 0 4px;font-size:13px;color:#57606a}
.prechat .ferr{padding:0}
.prechat .input{flex:none}
.pcbtns{display:flex;justify-content:flex-end;gap:8px;margin-top:6px}
.skip{height:42px;padding:0 14px;border:1px solid #c9ced4;border-radius:10px;background:#fff;color:#1f2328}
.skip:focus-visible{outline:3px solid var(--zora-accent);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
@media (max-width:480px){.root{bottom:16px;right:16px}.root.left{left:16px}.panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0;box-shadow:none}}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
`;
