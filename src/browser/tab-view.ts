// What a volunteer sees: the run, this tab's rank, the adapter it got, step, loss and throughput, the
// averaging rounds it joined, and a plain message when something is wrong. The page's state is also
// on <body data-state>, so a test (or a person's devtools) can tell where the tab is.
import type { EvalRecord, TrainRecord } from '../train/records.js';
import { LossChart } from './loss-chart.js';

export type TabState = 'loading' | 'no-webgpu' | 'joining' | 'training' | 'done' | 'refused' | 'failed' | 'left';

export class TabView {
  private readonly status: HTMLElement;
  private readonly facts: HTMLElement;
  private readonly chart: LossChart;
  private readonly values = new Map<string, HTMLElement>();

  constructor(private readonly document: Document) {
    this.status = this.element('status');
    this.facts = this.element('facts');
    this.chart = new LossChart(this.element('chart') as HTMLCanvasElement);
  }

  show(state: TabState, message: string): void {
    this.document.body.dataset.state = state;
    this.status.textContent = message;
    this.status.className = `status${state === 'done' ? ' done' : ['no-webgpu', 'refused', 'failed', 'left'].includes(state) ? ' error' : ''}`;
  }

  /** One line of the facts table, added the first time it is set. */
  fact(name: string, value: string): void {
    let cell = this.values.get(name);
    if (!cell) {
      const term = this.document.createElement('dt');
      term.textContent = name;
      cell = this.document.createElement('dd');
      this.facts.append(term, cell);
      this.values.set(name, cell);
    }
    cell.textContent = value;
  }

  train(record: TrainRecord, totalSteps: number | undefined): void {
    this.fact('Step', totalSteps ? `${record.step} of ${totalSteps}` : String(record.step));
    this.fact('Training loss', record.loss.toFixed(4));
    this.fact('Throughput', `${Math.round(record.samplesPerSecond).toLocaleString('en')} samples/s`);
    this.chart.add(record.step, record.loss);
  }

  evaluation(record: EvalRecord): void {
    this.fact('Test accuracy', `${(record.accuracy * 100).toFixed(2)} % (step ${record.step})`);
  }

  private element(id: string): HTMLElement {
    const e = this.document.getElementById(id);
    if (!e) throw new Error(`the page has no #${id}`);
    return e;
  }
}
