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
    bar.insertAdjacentHTML("afterend",
      '<details id="staff-account" style="padding:8px 16px"><summary>Your sessions and password</summary>' +
      '<ul id="staff-sessions"></ul>' +
      '<form id="staff-password" novalidate><label for="staff-current">Current password</label> ' +
      '<input type="password" id="staff-current" autocomplete="current-password"> ' +
      '<label for="staff-new">New password</label> <input type="password" id="staff-new" autocomplete="new-password"> ' +
      '<button type="submit">Change password (signs out everywhere)</button></form>' +
      '<div id="staff-account-status" aria-live="polite"></div></details>');
    var status = document.getElementById("staff-account-status");
    function call(method, path, body) {
      return window.zoraStaff.token().then(function (t) {
        var init = {method: method, headers: {"Authorization": "Bearer " + t}};
        if (body) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
        return fetch("/staff/api/" + path, init).then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (d) { return {status: r.status, data: d}; });
        });
      });
    }
    function listSessions() {
      call("GET", "me").then(function (r) {
        var list = document.getElementById("staff-sessions");
        list.textContent = "";
        (r.data.sessions || []).forEach(function (x) {
          var li = document.createElement("li");
          li.textContent = new Date(x.created_at * 1000).toLocaleString() + ", " + x.address + ", " + x.agent.slice(0, 60) +
            (x.current ? " (this one) " : " ");
          if (!x.current) {
            var b = document.createElement("button");
            b.type = "button";
            b.textContent = "End";
            b.setAttribute("aria-label", "End the session from " + x.address);
            b.addEventListener("click", function () { call("DELETE", "sessions/" + encodeURIComponent(x.id)).then(listSessions); });
            li.appendChild(b);
          }
          list.appendChild(li);
        });
      });
    }
    document.getElementById("staff-account").addEventListener("toggle", function (e) { if (e.target.open) listSessions(); });
    document.getElementById("staff-password").addEventListener("submit", function (e) {
      e.preventDefault();
      call("POST", "password", {current_password: document.getElementById("staff-current").value,
        new_password: document.getElementById("staff-new").value}).then(function (r) {
        if (r.status === 200) { sessionStorage.removeItem(KEY); window.location.assign("/staff"); return; }
        status.textContent = (r.data.error && r.data.error.message) || "Not changed (" + r.status + ").";
      });
    });
  });
})();
