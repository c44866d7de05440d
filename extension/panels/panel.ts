// One webview panel of a view, and the controller that keeps a single instance of it: the CSP + nonce shell,
// `localResourceRoots` limited to the bundle folder, a `ready` handshake with a queue, typed posts, a guard on
// everything the webview sends (unknown messages are dropped and logged), registered disposables, and a serializer
// so the panel comes back after a window reload. A panel that shows a model's data answers its view's requests only
// while that model is still the active one: a map or a resample from another model would be drawn as the first's.
import * as vscode from 'vscode';
import { isValidToHost, replyTypeOf, type ModelTag, type ReplyOf, type RequestType, type TimelineTag, type ToHost, type ToView, type ToViewType,
  type ViewMessages, type ViewName } from '../../engine';
import { envelope } from '../../engine';
import type { Log } from '../log';
import type { StoredModel } from '../modelStore';
import type { Session } from '../session';
import { makeNonce, viewShell } from './html';

/** The active model as a panel names it. */
export function modelTag(session: Session): ModelTag | null {
  const m = session.model;
  return m ? { label: m.label, tokenizer: m.tokenizer, parameters: m.parameters, partial: m.partial } : null;
}

/**
 * The active model's run as a panel's timeline slider shows it: the snapshots it kept, and the one `at` (null, or an
 * index the model does not have: the model itself).
 */
export async function timelineTag(session: Session, at: number | null): Promise<TimelineTag> {
  const { snapshots } = await session.probe('timeline', {});
  return { snapshots, at: at !== null && at < snapshots.length ? at : null };
}

/** A probe's snapshot parameter: absent for the model itself. */
export const atSnapshot = (snapshot: number | null): { snapshot?: number } => (snapshot === null ? {} : { snapshot });

/** A model's identity for a panel: its file and when that was saved (see ModelStore.describe). */
const modelKey = (m: StoredModel | null): string | null => (m ? `${m.file ?? 'in memory'}|${m.savedAt}` : null);

export abstract class PanelController<V extends ViewName> implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private ready = false;
  private queue: ToView<V>[] = [];
  private generation = 0;
  /** The model whose data the panel shows (the one the last command's result came from); undefined: none yet. */
  private shown: { key: string | null; label: string } | undefined;
  protected readonly disposables: vscode.Disposable[] = [];
  /** Test mode only (testApi.ts): replies awaited by request id. */
  private readonly replyWaiters = new Map<number, (reply: ToView<V>) => void>();

  /** `activeModel`: the session's, for panels that show a model's data (their requests answer only for that model). */
  constructor(protected readonly view: V, private readonly title: string, private readonly extensionUri: vscode.Uri,
    protected readonly log: Log, private readonly activeModel?: () => StoredModel | null) {
    this.disposables.push(vscode.window.registerWebviewPanelSerializer(this.viewType, {
      deserializeWebviewPanel: (panel: vscode.WebviewPanel) => {
        this.adopt(panel);
        return Promise.resolve();
      },
    }));
  }

  get viewType(): string {
    return `gptLab.${this.view}`;
  }

  get isOpen(): boolean {
    return this.panel !== null;
  }

  /** The webview has said ready: posts go straight through instead of the queue. */
  protected get isReady(): boolean {
    return this.ready;
  }

  /** Opens the panel beside the editor, or brings it forward. */
  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(this.viewType, this.title,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus }, { retainContextWhenHidden: true });
    this.adopt(panel);
  }

  /** Sends a message, queued until the webview says it is ready. */
  protected post<K extends ToViewType<V>>(type: K, params: ViewMessages[V]['toView'][K], id?: number): void {
    const msg = envelope<ViewMessages[V]['toView'], K>(type, params, id) as ToView<V>;
    const waiter = id === undefined ? undefined : this.replyWaiters.get(id);
    if (waiter) {
      this.replyWaiters.delete(id!);
      waiter(msg);
      return;
    }
    if (!this.panel) return;
    if (this.ready) void this.panel.webview.postMessage(msg);
    else this.queue.push(msg);
  }

  /** Answers a request of the webview: runs `work` and posts its result as the request's reply type, or an error, with its id. */
  protected async answer<K extends RequestType<V>>(msg: { type: K; id?: number }, work: () => Promise<ReplyOf<V, K>>): Promise<void> {
    const type = replyTypeOf(this.view, msg.type);
    const changed = this.modelChanged();
    if (changed) {
      this.postError(new Error(changed), msg.id);
      return;
    }
    try {
      const result = await work();
      if (type) this.post(type, result, msg.id);
    } catch (e) {
      this.postError(e, msg.id);
    }
  }

  /**
   * A command's work for this panel: shows it, says what is under way (the view marks its content stale), then posts
   * the result, or an error. When a newer command starts before it ends, its result is dropped: the panel always
   * renders the request it answers.
   */
  protected async load<K extends ToViewType<V>>(what: string, type: K, work: () => Promise<ViewMessages[V]['toView'][K]>): Promise<void> {
    const generation = ++this.generation;
    const model = this.activeModel?.() ?? null; // the model the result comes from
    this.show(true);
    this.post('loading', { what });
    try {
      const result = await work();
      if (generation === this.generation) {
        this.shown = { key: modelKey(model), label: model?.label ?? '' };
        this.post(type, result);
      }
    } catch (e) {
      if (generation === this.generation) this.postError(e);
    }
  }

  /**
   * Why the view's requests cannot be answered now: the active model is no longer the one whose data the panel shows
   * (a command's result). Null when it still is, or when the panel shows no model's data.
   */
  protected modelChanged(): string | null {
    if (!this.activeModel || this.shown?.key == null) return null;
    const now = this.activeModel();
    if (modelKey(now) === this.shown.key) return null;
    return `this panel shows the ${this.shown.label} model's data, and the active model is now ${now ? `the ${now.label} model` : 'none'}: ` +
      'run the command again to see it';
  }

  protected postError(e: unknown, id?: number): void {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    this.post('error', { message } as ViewMessages[V]['toView'][ToViewType<V>], id);
  }

  /**
   * Test mode only (testApi.ts): a request as the view would send it, through the same guard, and the host's reply
   * (its result or its error), which goes to the caller instead of the view.
   */
  replyTo(msg: unknown): Promise<ToView<V>> {
    if (!isValidToHost(this.view, msg) || msg.type === 'ready' || typeof msg.id !== 'number') {
      return Promise.reject(new Error(`not a request of the ${this.view} view: ${JSON.stringify(msg)?.slice(0, 200)}`));
    }
    return new Promise((resolve) => {
      this.replyWaiters.set(msg.id!, resolve);
      this.receive(msg);
    });
  }

  /** A message from the webview that passed the guard (not `ready`, which the controller handles). */
  protected abstract receive(msg: ToHost<V>): void;

  /** The webview is (again) ready: after a reload it redraws from its saved state; post what is new. */
  protected onReady(): void {}

  protected onClose(): void {}

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel?.dispose();
    this.panel = panel;
    this.ready = false;
    const bundle = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webviews');
    panel.webview.options = { enableScripts: true, localResourceRoots: [bundle] };
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.png');
    panel.webview.html = viewShell({
      view: this.view, title: this.title, cspSource: panel.webview.cspSource, nonce: makeNonce(),
      asset: (file) => panel.webview.asWebviewUri(vscode.Uri.joinPath(bundle, file)).toString(),
    });
    const subscriptions: vscode.Disposable[] = [];
    subscriptions.push(
      panel.webview.onDidReceiveMessage((msg: unknown) => {
        if (!isValidToHost(this.view, msg)) {
          this.log.error(`${this.view} panel: dropped a message outside the protocol: ${JSON.stringify(msg)?.slice(0, 200)}`);
          return;
        }
        if (this.panel !== panel) return;
        if (msg.type === 'ready') {
          this.ready = true;
          const queued = this.queue;
          this.queue = [];
          for (const m of queued) void panel.webview.postMessage(m);
          this.onReady();
          return;
        }
        try {
          this.receive(msg);
        } catch (e) {
          this.log.error(`${this.view} panel: ${String(e)}`);
        }
      }),
      panel.onDidDispose(() => {
        for (const d of subscriptions) d.dispose();
        if (this.panel !== panel) return; // replaced by a newer panel
        this.panel = null;
        this.ready = false;
        this.queue = [];
        this.onClose();
      }),
    );
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
