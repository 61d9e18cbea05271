// «Мои продажи», enhanced. Without this script every page works the same:
// a card moves through its select, templates are applied with a button.
// - Drag a card onto another column: the same transition form opens (the
//   server shows the engine's refusal when the move is not possible).
// - "/" focuses the board's search; on the card, "n" jumps to planning and
//   "r" to the answer form.
// - Choosing a reply template applies it at once.
(function () {
  var dragged = null;
  document.querySelectorAll('.card[draggable="true"]').forEach(function (card) {
    card.addEventListener('dragstart', function (e) {
      dragged = card;
      card.classList.add('dragging');
      e.dataTransfer.effectAllowed = 'move';
      e.dataTransfer.setData('text/plain', card.dataset.id);
    });
    card.addEventListener('dragend', function () {
      card.classList.remove('dragging');
      dragged = null;
      document.querySelectorAll('.stage-column.drop-target').forEach(function (c) {
        c.classList.remove('drop-target');
      });
    });
  });
  document.querySelectorAll('.stage-column').forEach(function (column) {
    column.addEventListener('dragover', function (e) {
      if (!dragged) return;
      e.preventDefault();
      column.classList.add('drop-target');
    });
    column.addEventListener('dragleave', function () {
      column.classList.remove('drop-target');
    });
    column.addEventListener('drop', function (e) {
      e.preventDefault();
      column.classList.remove('drop-target');
      var id = (dragged && dragged.dataset.id) || e.dataTransfer.getData('text/plain');
      var stage = column.dataset.stage;
      if (!id || !stage || (dragged && dragged.closest('.stage-column') === column)) return;
      window.location.href = '/ui/interests/' + encodeURIComponent(id) + '/move?to=' + encodeURIComponent(stage);
    });
  });

  var template = document.getElementById('template');
  if (template && template.form) {
    template.addEventListener('change', function () { template.form.submit(); });
  }

  var layout = { 'т': 'n', 'к': 'r' };
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    var key = (e.key || '').toLowerCase();
    key = layout[key] || key;
    var focus = null;
    if (key === '/' || key === '.') focus = document.getElementById('q');
    if (key === 'n') focus = document.getElementById('plan-next-at');
    if (key === 'r') focus = document.getElementById('reply-text');
    if (focus) {
      e.preventDefault();
      focus.focus();
      if (focus.scrollIntoView) focus.scrollIntoView({ block: 'center' });
    }
  });
})();
