// The page's live chart: training loss by step, drawn on a canvas (no charting library to ship).
export class LossChart {
  private readonly points: Array<{ step: number; loss: number }> = [];

  constructor(private readonly canvas: HTMLCanvasElement) {}

  add(step: number, loss: number): void {
    if (!Number.isFinite(loss)) return;
    this.points.push({ step, loss });
    this.draw();
  }

  private draw(): void {
    const g = this.canvas.getContext('2d');
    if (!g) return;
    const { width, height } = this.canvas;
    const pad = { left: 48, right: 12, top: 12, bottom: 26 };
    g.clearRect(0, 0, width, height);
    const steps = this.points.map((p) => p.step);
    const losses = this.points.map((p) => p.loss);
    const [s0, s1] = [Math.min(...steps), Math.max(...steps, Math.min(...steps) + 1)];
    const [l0, l1] = [Math.min(0, ...losses), Math.max(...losses) * 1.05 || 1];
    const x = (s: number) => pad.left + ((s - s0) / (s1 - s0)) * (width - pad.left - pad.right);
    const y = (l: number) => height - pad.bottom - ((l - l0) / (l1 - l0)) * (height - pad.top - pad.bottom);
    g.strokeStyle = '#c9ced8';
    g.fillStyle = '#5b6475';
    g.font = '12px system-ui, sans-serif';
    g.beginPath();
    g.moveTo(pad.left, pad.top);
    g.lineTo(pad.left, height - pad.bottom);
    g.lineTo(width - pad.right, height - pad.bottom);
    g.stroke();
    g.fillText(l1.toFixed(2), 4, pad.top + 10);
    g.fillText(l0.toFixed(2), 4, height - pad.bottom);
    g.fillText(`step ${s0}`, pad.left, height - 8);
    g.fillText(`step ${s1}`, width - pad.right - 60, height - 8);
    g.fillText('training loss', width - pad.right - 80, pad.top + 10);
    g.strokeStyle = '#2f5fd0';
    g.lineWidth = 2;
    g.beginPath();
    this.points.forEach((p, i) => (i === 0 ? g.moveTo(x(p.step), y(p.loss)) : g.lineTo(x(p.step), y(p.loss))));
    g.stroke();
  }
}
