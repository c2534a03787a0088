// Loads the alerts panel once the server has computed it; a spinner shows meanwhile.
(function () {
  "use strict";
  var box = document.getElementById("alerts-container");
  if (!box) { return; }
  fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then(function (response) {
      if (response.status === 401) {
        window.location.assign("/connexion");
        return null;
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (html) {
      if (html !== null) { box.innerHTML = html; }
    })
    .catch(function () {
      box.innerHTML = '<p class="alert alert-error" role="alert">' + box.getAttribute("data-error") + "</p>";
    });
})();
