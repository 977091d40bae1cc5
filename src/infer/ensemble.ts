// A fold ensemble as one Predictor: the mean of the members' probabilities (as nnU-Net
// combines its cross-validation folds). Members must agree on channels and classes.
import type { Field } from './grid.js';
import type { Predictor, ProbMap, RunOptions } from './predict.js';

export function createEnsemble(members: Predictor[]): Predictor {
  if (!members.length) throw new Error('ensemble: no models');
  const [first] = members;
  const c0 = first.model.config;
  members.forEach((m, i) => {
    const c = m.model.config;
    if (c.inChannels !== c0.inChannels || c.classes !== c0.classes || c.multiclass !== c0.multiclass)
      throw new Error(`ensemble: model ${i} takes ${c.inChannels} channels to ${c.classes} classes (${c.multiclass}); model 0 ${c0.inChannels} to ${c0.classes} (${c0.multiclass})`);
  });
  const mean = (maps: ProbMap[]): ProbMap => {
    const out = new Float32Array(maps[0].data.length);
    for (const m of maps) for (let i = 0; i < out.length; i++) out[i] += m.data[i];
    for (let i = 0; i < out.length; i++) out[i] /= maps.length;
    return { ...maps[0], data: out };
  };
  const predictMany = (imgs: Field[], o?: RunOptions): ProbMap[] => {
    const per = members.map((m) => m.predictMany(imgs, o));
    return imgs.map((_, i) => mean(per.map((p) => p[i])));
  };
  const predictManyAsync = async (imgs: Field[], o?: RunOptions): Promise<ProbMap[]> => {
    const per: ProbMap[][] = [];
    for (const m of members) per.push(await m.predictManyAsync(imgs, o)); // one member at a time: memory
    return imgs.map((_, i) => mean(per.map((p) => p[i])));
  };
  return {
    model: first.model, classes: first.classes, runtime: first.runtime, predictMany, predictManyAsync,
    predict: (img, o) => predictMany([img], o)[0],
    predictAsync: async (img, o) => (await predictManyAsync([img], o))[0],
    get plansCompiled() { return members.reduce((n, m) => n + m.plansCompiled, 0); },
    get planBytes() { return members.reduce((n, m) => n + m.planBytes, 0); },
    releasePlans: () => { for (const m of members) m.releasePlans(); },
  };
}
