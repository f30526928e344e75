// The alert queue (ui/templates/triage/alerts/index.html). A separate file, not inline script,
// so the page's CSP can stay `script-src 'self'`. Listeners sit on the document, so rows and
// results that htmx swaps in later are covered too. Without it the page still works: the
// server redirects an address with empty filters, and rows are selected one by one.
(function () {
  "use strict";

  var ROWS = 'input[type="checkbox"][name="alert_id"][form="bulk-form"]';

  // "Select all": checks or clears every row shown; it shows mixed when some are checked.
  function syncSelectAll() {
    var all = document.getElementById("select-all");
    if (!all) {
      return;
    }
    var boxes = document.querySelectorAll(ROWS);
    var checked = 0;
    boxes.forEach(function (box) {
      if (box.checked) {
        checked += 1;
      }
    });
    all.hidden = boxes.length === 0;
    all.checked = boxes.length > 0 && checked === boxes.length;
    all.indeterminate = checked > 0 && checked < boxes.length;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      document.querySelectorAll(ROWS).forEach(function (box) {
        box.checked = target.checked;
      });
      syncSelectAll();
    } else if (target.matches && target.matches(ROWS)) {
      syncSelectAll();
    }
  });

  // The filter form sends only the filters that have a value (and no default sort): the
  // address stays shareable.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form || form.id !== "alert-filters") {
      return;
    }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      var value = params[name];
      var blank = typeof value === "string" && value.trim() === "";
      if (blank || (name === "sort" && value === "score")) {
        delete params[name];
      }
    });
  });

  // A plain submit (htmx not loaded yet): leave the empty fields out of the address too.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "alert-filters" || event.defaultPrevented) {
      return;
    }
    form.querySelectorAll("input, select").forEach(function (field) {
      if (field.name && field.type !== "checkbox" && field.value.trim() === "") {
        field.disabled = true;
        window.setTimeout(function () {
          field.disabled = false;
        }, 0);
      }
    });
  });

  document.addEventListener("htmx:afterSettle", syncSelectAll);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", syncSelectAll);
  } else {
    syncSelectAll();
  }
})();
