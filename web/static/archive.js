// Progressive touches only; every page works without this file.
(function () {
  "use strict";
  // "/" focuses the search box, as on most search sites.
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("q");
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && box && !typing) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
  // Arriving at #match: move keyboard focus to the highlighted passage too.
  var match = document.getElementById("match");
  if (match && window.location.hash === "#match") {
    match.focus({ preventScroll: true });
  }
  // Changing the mode re-runs the current search.
  document.querySelectorAll(".masthead .modes input").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (document.getElementById("q").value.trim()) { radio.form.submit(); }
    });
  });
})();
