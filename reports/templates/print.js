// Open every folded table before printing, so a printed report holds every number.
window.addEventListener("beforeprint", function () {
  document.querySelectorAll("details").forEach(function (details) { details.open = true; });
});
