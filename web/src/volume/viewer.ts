// The volume and its labels in NiiVue: three orthogonal slices and a 3D rendering in one
// canvas, one overlay per class (its own colour and opacity; opacity 0 hides it). NiiVue needs
// WebGL2: without it the page still segments, measures and saves, and says so.
import { Niivue, NVImage, SLICE_TYPE, SHOW_RENDER } from '@niivue/niivue';
import { niftiLabelFile, type NiftiVolume } from './nifti.js';

export const CLASS_COLOURMAPS = ['red', 'green', 'blue', 'warm', 'violet', 'winter'];

export class Viewer {
  private constructor(private readonly nv: Niivue) {}
  private overlays = new Map<number, NVImage>();

  /** A viewer on the canvas, or the reason there is none. */
  static async create(canvas: HTMLCanvasElement): Promise<Viewer | string> {
    if (!document.createElement('canvas').getContext('webgl2')) return 'no WebGL2 in this browser: the 3D viewer is off (segmentation still works)';
    try {
      const nv = new Niivue({ backColor: [0.1, 0.1, 0.12, 1], show3Dcrosshair: true, crosshairColor: [1, 0.85, 0.2, 1], isColorbar: false, logLevel: 'error', multiplanarShowRender: SHOW_RENDER.ALWAYS });
      await nv.attachToCanvas(canvas);
      nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
      return new Viewer(nv);
    } catch (e) {
      return `the viewer could not start (${(e as Error).message}): segmentation still works`;
    }
  }

  /** Shows a volume (its first channel), replacing whatever was shown. */
  async show(v: NiftiVolume): Promise<void> {
    for (const vol of [...this.nv.volumes]) this.nv.removeVolume(vol);
    this.overlays.clear();
    const first = { ...v, channels: 1, data: v.data.subarray(0, v.dims[0] * v.dims[1] * v.dims[2]) };
    const img = await NVImage.loadFromUrl({ url: await floatFile(first), name: `${v.name.replace(/\.nii(\.gz)?$/i, '')}.nii`, colormap: 'gray' });
    this.nv.addVolume(img);
  }

  /** One overlay per class (its label values: regions overlap); replaces the previous labels. */
  async showLabels(labels: Uint8Array, like: NiftiVolume, classes: { values: number[] }[], opacity: number): Promise<void> {
    for (const o of this.overlays.values()) this.nv.removeVolume(o);
    this.overlays.clear();
    for (const [k, { values }] of classes.entries()) {
      const mask = new Uint8Array(labels.length), inClass = new Uint8Array(256);
      for (const v of values) inClass[v] = 1;
      for (let i = 0; i < labels.length; i++) mask[i] = inClass[labels[i]];
      const img = await NVImage.loadFromUrl({
        url: await niftiLabelFile(mask, like, false), name: `class${k + 1}.nii`,
        colormap: CLASS_COLOURMAPS[k % CLASS_COLOURMAPS.length], opacity, cal_min: 0.5, cal_max: 1, trustCalMinMax: true,
      });
      this.nv.addVolume(img);
      this.overlays.set(k, img);
    }
  }

  setOpacity(k: number, opacity: number): void {
    const img = this.overlays.get(k);
    if (!img) return;
    this.nv.setOpacity(this.nv.volumes.indexOf(img), opacity);
  }
}

/** The first channel as an uncompressed float32 NIfTI for NiiVue (the geometry of the file). */
async function floatFile(v: NiftiVolume): Promise<Uint8Array> {
  const bytes = NVImage.createNiftiArray([v.dims[0], v.dims[1], v.dims[2]], [...v.spacing], v.affine.flat(), 16, new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  return bytes;
}
