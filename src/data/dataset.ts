// The in-memory form every data source produces and the loader consumes.

export interface Dataset {
  name: string;
  /** [count, features] row-major. */
  x: Float32Array;
  /** Class labels in [0, classes). */
  y: Uint32Array;
  count: number;
  features: number;
  classes: number;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
}

/** Throws if the shapes disagree, a label is out of range or a feature is not finite. */
export function validateDataset(d: Dataset, source: string): void {
  const where = `${source} (data set "${d.name}")`;
  for (const key of ['count', 'features', 'classes'] as const) {
    const v = d[key];
    const min = key === 'count' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`${where}: ${key} must be an integer ≥ ${min} (got ${v})`);
    }
  }
  if (d.x.length !== d.count * d.features) {
    throw new Error(
      `${where}: x has ${d.x.length} values but count × features = ${d.count} × ${d.features} = ${d.count * d.features}; ` +
        'x must be [count, features] row-major',
    );
  }
  if (d.y.length !== d.count) {
    throw new Error(`${where}: y has ${d.y.length} labels but count is ${d.count}; give one label per sample`);
  }
  for (let i = 0; i < d.count; i++) {
    if (d.y[i]! >= d.classes) {
      throw new Error(
        `${where}: label ${d.y[i]} of sample ${i} is out of range for ${d.classes} classes; ` +
          'labels must be 0 … classes-1 (raise the class count or fix the label)',
      );
    }
  }
  for (let i = 0; i < d.x.length; i++) {
    if (!Number.isFinite(d.x[i]!)) {
      const row = Math.floor(i / d.features);
      throw new Error(
        `${where}: feature ${i % d.features} of sample ${row} is ${d.x[i]}; every feature must be finite (clean or impute the data)`,
      );
    }
  }
}
