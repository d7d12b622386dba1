// A cell's details (cell density): name, extension, state, time in it and the detail
// line, in one shared tooltip shown on hover or keyboard focus and tied to the cell by
// aria-describedby. The view keeps updating the cell's hidden texts; this copies them
// while the cell is the one shown. Escape hides it.

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export class CellPopover {
  /** @param {{doc: Document, view: import('./view.js').WallboardView}} options */
  constructor({ doc, view }) {
    this.doc = doc;
    this.view = view;
    this.el = doc.getElementById('cell-pop');
    this.el.innerHTML = '<strong class="pop-name"></strong> <span class="pop-ext"></span>'
      + '<span class="pop-state"><i class="state-icon" aria-hidden="true"></i> <span class="pop-label"></span> '
      + '<span class="pop-timer"></span></span><span class="pop-detail"></span>';
    this.parts = Object.fromEntries(['name', 'ext', 'label', 'timer', 'detail'].map((part) => [part, this.el.querySelector(`.pop-${part}`)]));
    this.parts.icon = this.el.querySelector('.state-icon');
    this.hovered = null;
    view.onPopped = (tile) => (tile ? this.refresh(tile) : this.hide());
    const queues = view.queuesEl;
    const cellOf = (event) => (view.density === 'cells' ? view.tileOfEl.get(event.target.closest?.('.tile')) : null);
    queues.addEventListener('focusin', (event) => {
      const tile = cellOf(event);
      if (tile && event.target === tile.el) this.show(tile);
    });
    queues.addEventListener('focusout', () => {
      if (this.view.popped && !this.hovered) this.hide();
    });
    queues.addEventListener('mouseover', (event) => {
      const tile = cellOf(event);
      if (!tile || tile === this.hovered) return;
      this.hovered = tile;
      this.show(tile);
    });
    queues.addEventListener('mouseleave', () => {
      this.hovered = null;
      const focused = view.tileOfEl.get(doc.activeElement);
      if (focused && view.density === 'cells') this.show(focused);
      else this.hide();
    });
    doc.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.view.popped) this.hide();
    });
  }

  show(tile) {
    const previous = this.view.popped;
    if (previous && previous !== tile) previous.el.removeAttribute('aria-describedby');
    this.view.popped = tile;
    tile.el.setAttribute('aria-describedby', 'cell-pop');
    this.refresh(tile);
    this.el.hidden = false;
    this.place(tile);
  }

  /** Copy the cell's texts (called by the view when the cell changes and every second). */
  refresh(tile) {
    if (tile !== this.view.popped) return;
    if (!tile.el.isConnected) {
      this.hide();
      return;
    }
    this.view.updateTimer(tile, this.view.state.now());
    setText(this.parts.name, tile.name.textContent);
    setText(this.parts.ext, tile.ext.textContent);
    setText(this.parts.icon, tile.icon.textContent);
    setText(this.parts.label, tile.label.textContent);
    setText(this.parts.timer, tile.timer.textContent);
    setText(this.parts.detail, tile.detail.textContent);
    this.el.dataset.state = tile.key;
  }

  /** Above the cell, or below it near the top; kept inside the window. */
  place(tile) {
    const cell = tile.el.getBoundingClientRect();
    const pop = this.el.getBoundingClientRect();
    const margin = 6;
    let top = cell.top - pop.height - margin;
    if (top < margin) top = cell.bottom + margin;
    const left = Math.min(Math.max(margin, cell.left + cell.width / 2 - pop.width / 2), window.innerWidth - pop.width - margin);
    this.el.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
  }

  hide() {
    this.view.popped?.el.removeAttribute('aria-describedby');
    this.view.popped = null;
    this.el.hidden = true;
  }
}
