// Keyboard shortcuts for the review queue: 1..9 link to candidate N, N makes a
// new client, S marks spam. Each key presses the button that carries it, so the
// page behaves exactly as with a click (and works without this script).
(function () {
  // The same physical keys on a Russian layout.
  var layout = { 'т': 'n', 'ы': 's' };
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    var key = (e.key || '').toLowerCase();
    key = layout[key] || key;
    if (!/^[0-9a-z]$/.test(key)) return;
    var button = document.querySelector('button[data-key="' + key + '"]');
    if (button) {
      e.preventDefault();
      button.click();
    }
  });
})();
