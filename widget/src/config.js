// Reads the widget's configuration from the <script> tag that loaded it.
//
//   <script src="https://zora.example/widget.js" data-shop="demo.myshopify.com" async></script>
//
// Required: data-shop. Optional: data-server (an origin; defaults to the origin of the script's
// src), data-color (accent colour), data-greeting (the merchant's greeting, any language),
// data-launcher-text (the launcher's name), data-position ("right" | "left"), data-locale (the
// storefront's language; Shopify.locale and <html lang> are used when it is absent), data-proxy
// (a same-origin path such as /apps/zora/session: the shop's app proxy, set by the theme app
// extension, so Shopify vouches for the signed-in customer).

const DEFAULT_COLOR = '#1f6feb';

/** Finds our <script> when document.currentScript is not available (it should be). */
export function findScript() {
  const scripts = document.querySelectorAll('script[data-shop]');
  for (let i = scripts.length - 1; i >= 0; i--) {
    if (/\/widget\.js(\?|#|$)/.test(scripts[i].src || '')) return scripts[i];
  }
  return scripts.length ? scripts[scripts.length - 1] : null;
}

function originOf(url) {
  if (!url) return '';
  try {
    return new URL(url, location.href).origin;
  } catch (_) {
    return '';
  }
}

function isColor(value) {
  try {
    return !!value && CSS.supports('color', value);
  } catch (_) {
    return false;
  }
}

/**
 * @param {HTMLScriptElement | null} script
 * @returns {{proxy: string, shop: string, server: string, color: string, greeting: string, launcherText: string, locale: string, position: 'left' | 'right'}}
 */
export function readConfig(script) {
  const attr = (name) => ((script && script.getAttribute(name)) || '').trim();
  const shop = attr('data-shop').toLowerCase();
  // data-server must be an origin: socket.io treats a URL path as the namespace, so anything
  // after the origin is dropped.
  const server =
    originOf(attr('data-server')) || (script && script.src ? originOf(script.src) : '') || location.origin;
  const color = attr('data-color');
  const position = attr('data-position').toLowerCase() === 'left' ? 'left' : 'right';
  // Only a path on the storefront's own origin: the app proxy lives there, nothing else may.
  const proxy = /^\/[A-Za-z0-9/_-]*$/.test(attr('data-proxy')) ? attr('data-proxy') : '';
  return {
    proxy,
    shop,
    server,
    color: isColor(color) ? color : DEFAULT_COLOR,
    greeting: attr('data-greeting'),
    launcherText: attr('data-launcher-text'),
    locale: attr('data-locale'),
    position,
  };
}
