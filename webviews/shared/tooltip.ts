/** The hover readout every chart shares (`.gl-tooltip` in theme.css): exact values next to the pointer, kept on screen. */
export interface Tooltip {
  /** Shows `text` near (x, y) in viewport pixels, flipped to the other side of the pointer near an edge. */
  show(text: string, x: number, y: number): void;
  hide(): void;
}

export function createTooltip(): Tooltip {
  const node = document.createElement('div');
  node.className = 'gl-tooltip';
  node.setAttribute('role', 'tooltip');
  node.hidden = true;
  document.body.append(node);
  return {
    show(text, x, y) {
      if (node.textContent !== text) node.textContent = text;
      node.hidden = false;
      const w = node.offsetWidth, h = node.offsetHeight;
      const left = x + 14 + w > window.innerWidth - 4 ? x - 14 - w : x + 14;
      const top = y + 16 + h > window.innerHeight - 4 ? y - 10 - h : y + 16;
      node.style.left = `${Math.max(4, left)}px`;
      node.style.top = `${Math.max(4, top)}px`;
    },
    hide() {
      node.hidden = true;
    },
  };
}
