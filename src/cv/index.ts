/**
 * Cross-validation: folds, one fold's training, the summary.
 * @module unetpp/cv
 */
export { makeFolds, readFolds, writeFolds, type Folds } from './folds.js';
export { runFold, foldDir, type FoldSpec, type FoldResult } from './fold.js';
export { summarize, summaryMarkdown, writeSummary, type CvSummary } from './summary.js';
