"use strict";
// Staff tokens for the settings page outside Shopify admin (/staff/settings): the access token is
// refreshed with the refresh token kept in this tab's sessionStorage; without one, back to sign-in.
(function () {
  var KEY = "zora-staff";
  function load() { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } }
  function save(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); }
  function signIn() { sessionStorage.removeItem(KEY); window.location.assign("/staff"); }
  function refresh(s) {
    return fetch("/staff/api/refresh", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({refresh_token: s.refresh_token})}).then(function (resp) {
      if (!resp.ok) { signIn(); throw new Error("Signed out: sign in again."); }
      return resp.json();
    }).then(function (data) {
      var next = {access_token: data.access_token, refresh_token: data.refresh_token, email: data.email,
        role: data.role, shop: data.shop, expires_at: Date.now() + (data.expires_in - 30) * 1000};
      save(next);
      return next;
    });
  }
  window.zoraStaff = {
    token: function () {
      var s = load();
      if (!s) { signIn(); return Promise.reject(new Error("Sign in first.")); }
      if (Date.now() < s.expires_at) return Promise.resolve(s.access_token);
      return refresh(s).then(function (n) { return n.access_token; });
    },
    signOut: function () {
      var s = load();
      var done = function () { signIn(); };
      if (!s) { done(); return; }
      window.zoraStaff.token().then(function (t) {
        return fetch("/staff/api/sign-out", {method: "POST", headers: {"Authorization": "Bearer " + t}});
      }).then(done, done);
    }
  };
  document.addEventListener("DOMContentLoaded", function () {
    var s = load();
    var bar = document.createElement("nav");
    bar.setAttribute("aria-label", "Account");
    bar.style.cssText = "padding:8px 16px;border-bottom:1px solid #ddd;display:flex;gap:12px;align-items:center";
    var who = document.createElement("span");
    who.id = "staff-who";
    who.textContent = s ? s.email + " (" + s.role + ", " + s.shop + ")" +
      (s.role === "agent" ? " - read-only: agents cannot save settings" : "") : "";
    var out = document.createElement("button");
    out.type = "button";
    out.textContent = "Sign out";
    out.addEventListener("click", window.zoraStaff.signOut);
    bar.appendChild(who);
    bar.appendChild(out);
    document.body.insertBefore(bar, document.body.firstChild);
  });
})();
