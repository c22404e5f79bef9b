"use strict";
// Session tokens for the pages Shopify admin frames (settings, analytics), one place for both: App Bridge when
// Shopify admin frames the page and its CDN answered; zora dev's stand-in admin frame by postMessage otherwise;
// outside Shopify admin (/staff/...), staff.js's own staff access tokens.
(function () {
  var appBridge = typeof window.shopify === "object" && window.shopify && typeof window.shopify.idToken === "function";
  var pending = {};
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data || event.data.type !== "zora-dev:id-token") return;
    var done = pending[event.data.nonce];
    if (done) { delete pending[event.data.nonce]; done(event.data.token); }
  });
  function frameToken() {
    return new Promise(function (resolve, reject) {
      if (window.parent === window) { reject(new Error("Open this page from Shopify admin (or zora dev's admin frame).")); return; }
      var nonce = Math.random().toString(36).slice(2) + Date.now();
      var timer = setTimeout(function () { delete pending[nonce]; reject(new Error("The admin frame gave no session token.")); }, 10000);
      pending[nonce] = function (token) { clearTimeout(timer); resolve(token); };
      window.parent.postMessage({type: "zora-dev:id-token-request", nonce: nonce}, "*");
    });
  }
  // staff.js is read after this file, so it is looked for at each call rather than once here.
  function idToken() {
    if (window.zoraStaff) return window.zoraStaff.token();
    return appBridge ? window.shopify.idToken() : frameToken();
  }
  window.zoraSession = {
    appBridge: appBridge,
    idToken: idToken,
    // fetch(path, init) with the session token as the bearer.
    fetch: function (path, init) {
      return idToken().then(function (token) {
        var headers = Object.assign({}, init && init.headers, {"Authorization": "Bearer " + token});
        return fetch(path, Object.assign({}, init, {headers: headers}));
      });
    }
  };
})();
