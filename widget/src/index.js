// Entry point of widget.js (bundled as an IIFE by build.mjs).
//
//   <script src="https://zora.example/widget.js" data-shop="demo.myshopify.com" async></script>
//
// Exposes window.Zora = {open(), close(), send(text), ready: Promise} and dispatches a
// `zora:ready` event on window once the first connection has answered `resume`.

import { findScript, readConfig } from './config.js';
import { startWidget } from './widget.js';

// Must be read synchronously while this script runs: it is null in any later callback.
const script = document.currentScript || findScript();

if (!(window.Zora && window.Zora.ready)) {
  window.Zora = startWidget(readConfig(script));
}
