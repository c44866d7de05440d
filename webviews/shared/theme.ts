// The theme, read where a view paints by itself (canvas, computed colour scales): VS Code's `--vscode-*` variables
// resolved to RGB, and one observer that calls back when the user switches themes.

export type Rgb = [number, number, number];

let probe: HTMLSpanElement | null = null;

/** A CSS colour expression (e.g. `var(--vscode-charts-orange, #d18616)`) as the browser resolves it, or the fallback. */
export function themeColor(expr: string, fallback: Rgb): Rgb {
  if (!probe) {
    probe = document.createElement('span');
    probe.setAttribute('aria-hidden', 'true');
    probe.style.display = 'none';
    document.body.append(probe);
  }
  probe.style.color = '';
  probe.style.color = expr;
  const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(getComputedStyle(probe).color);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : fallback;
}

/** A theme variable's raw value (e.g. a font family), or the fallback. */
export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Whether the theme is a high-contrast one (VS Code marks the body). */
export function isHighContrast(): boolean {
  return document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light');
}

/**
 * Calls `changed` (at most once per frame) when VS Code switches the theme: it swaps the body's classes and
 * data-vscode-theme-kind and rewrites the variables on <html>.
 */
export function onThemeChange(changed: () => void): void {
  let queued = false;
  const fire = (): void => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      changed();
    });
  };
  const observer = new MutationObserver(fire);
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
}
