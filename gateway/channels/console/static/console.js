// Doorstep console: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  function debounce(fn, ms) {
    var t; return function () { var a = arguments; clearTimeout(t); t = setTimeout(function () { fn.apply(null, a); }, ms); };
  }

  // Confirmation before destructive forms (cancel an order, new invite link).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) { if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault(); });
  });

  // Live order list: poll the rows; the server answers 204 while nothing changed.
  var live = document.getElementById("live-status");
  var rows = document.getElementById("order-rows");
  if (live && rows) {
    var version = live.getAttribute("data-version");
    var query = live.getAttribute("data-query");
    setInterval(function () {
      if (document.hidden) return;
      fetch("/console/orders/rows?" + query + (query ? "&" : "") + "version=" + encodeURIComponent(version),
            {credentials: "same-origin"})
        .then(function (r) {
          if (r.status === 200) {
            version = r.headers.get("X-Orders-Version") || version;
            var total = r.headers.get("X-Orders-Total");
            return r.text().then(function (html) {
              rows.innerHTML = html;
              var tEl = document.getElementById("orders-total");
              if (tEl && total !== null) tEl.textContent = tEl.textContent.replace(/\d+/, total);
              live.setAttribute("data-updated", String(Date.now()));
            });
          }
        }).catch(function () {});
    }, 4000);
  }

  // Item editor: add and remove rows.
  document.querySelectorAll(".add-row").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var body = btn.previousElementSibling.querySelector("tbody");
      var last = body.querySelector("tr.item-row:last-child");
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      row.querySelector("select").value = "";
      body.appendChild(row);
      row.querySelector("select").focus();
    });
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".remove-row");
    if (!b) return;
    var tr = b.closest("tr");
    tr.querySelectorAll("input").forEach(function (i) { i.value = ""; });
    tr.querySelector("select").value = "";
  });

  function fillRows(table, items) {
    var body = table.querySelector("tbody");
    var trs = body.querySelectorAll("tr.item-row");
    while (trs.length < items.length + 1) {
      body.appendChild(trs[trs.length - 1].cloneNode(true));
      trs = body.querySelectorAll("tr.item-row");
    }
    trs.forEach(function (tr, i) {
      var it = items[i];
      tr.querySelector("select").value = it ? it.sku : "";
      tr.querySelector("input[name=quantity]").value = it ? String(it.quantity) : "";
      tr.querySelector("input[name=unit]").value = it ? (it.unit || "") : "";
    });
  }

  // Phone entry: look the caller up, and parse the order as it is typed.
  var form = document.getElementById("entry-form");
  if (form) {
    var phone = document.getElementById("phone");
    var card = document.getElementById("resident-card");
    var text = document.getElementById("order-text");
    var status = document.getElementById("parse-status");
    var locale = document.getElementById("locale");
    var table = form.querySelector(".items-editor");
    var lookup = function () {
      if (!phone.value.trim()) return;
      fetch("/console/entry/lookup?phone=" + encodeURIComponent(phone.value), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (d) {
          card.textContent = "";
          if (d.error) { card.textContent = d.error; return; }
          if (d.found) {
            var s = document.createElement("strong"); s.textContent = d.name; card.appendChild(s);
            card.appendChild(document.createTextNode(" · " + d.village + " · " + d.address));
            if (d.locale && locale) locale.value = d.locale;
            (d.recent || []).forEach(function (o) {
              var p = document.createElement("div"); p.className = "hint";
              p.textContent = "#" + o.id + " " + o.status + " · " + o.items; card.appendChild(p);
            });
          } else {
            card.textContent = card.getAttribute("data-not-found") || "?";
          }
        }).catch(function () {});
    };
    document.getElementById("find-resident").addEventListener("click", lookup);
    phone.addEventListener("change", lookup);
    var parse = debounce(function () {
      fetch("/console/entry/parse", {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
        body: JSON.stringify({text: text.value, locale: locale ? locale.value : ""})})
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (!d.available) { status.textContent = d.notice || ""; return; }
          fillRows(table, d.items || []);
          var words = (d.unmatched || []).join("、");
          status.textContent = (d.items || []).map(function (i) { return i.name + " " + i.quantity + (i.unit || ""); }).join("、")
            + (words ? "  ？" + words : "");
          status.setAttribute("data-parsed", String(Date.now()));
        }).catch(function () {});
    }, 250);
    text.addEventListener("input", parse);
    if (locale) locale.addEventListener("change", parse);
  }

  // Invite links: select the whole link on focus, ready to copy.
  document.querySelectorAll("input.invite").forEach(function (i) {
    i.addEventListener("focus", function () { i.select(); });
  });

  // Keypad on the try-it page.
  document.querySelectorAll(".keypad").forEach(function (pad) {
    var target = document.getElementById(pad.getAttribute("data-target"));
    pad.addEventListener("click", function (e) {
      var k = e.target.getAttribute && e.target.getAttribute("data-key");
      if (k && target) target.value += k;
    });
  });

  // Print buttons (the purchasing sheet).
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();

// The try-it page's phone screen shows the newest message, as a phone does.
document.addEventListener("DOMContentLoaded", () => {
  for (const screen of document.querySelectorAll(".phone-screen")) {
    screen.scrollTop = screen.scrollHeight;
  }
});

// A page answered to a POST takes the address of its GET view, so a reload shows it again.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.querySelector("[data-canonical-url]");
  const url = el && el.getAttribute("data-canonical-url");
  if (url && window.location.pathname !== url.split("?")[0] && window.history.replaceState) {
    window.history.replaceState(null, "", url);
  }
});

// Items editor: choosing another product puts in that product's default unit (the old one
// may not be sold for it).
document.addEventListener("change", (e) => {
  const select = e.target;
  if (!(select instanceof HTMLSelectElement) || select.name !== "sku" || !select.closest(".items-editor")) return;
  const unit = select.closest("tr").querySelector("input[name=unit]");
  const option = select.selectedOptions[0];
  if (unit && option) unit.value = option.getAttribute("data-unit") || "";
});

// The try-it page's phone: a call due later (a retry, the end of the quiet hours) rings by
// itself. The page reloads a moment after the first due time, unless something is being
// typed; a due time long past (no worker placing calls) is left alone.
document.addEventListener("DOMContentLoaded", () => {
  const times = Array.from(document.querySelectorAll("[data-ring-at]"))
    .map((el) => Date.parse(el.getAttribute("data-ring-at")))
    .filter((t) => !Number.isNaN(t) && t > Date.now() - 60 * 1000);
  if (!times.length) return;
  const wait = Math.min(...times) - Date.now() + 1500;
  if (wait > 15 * 60 * 1000) return;
  const reload = () => {
    const a = document.activeElement;
    if (a && ["INPUT", "TEXTAREA", "SELECT"].includes(a.tagName) && a.value) {
      setTimeout(reload, 5000);
      return;
    }
    window.location.reload();
  };
  setTimeout(reload, Math.max(wait, 1000));
});
