// The service's OpenAPI 3.0 description, served at /openapi.json.
const boolParam = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'boolean' } });
const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

export function openApi(version: string) {
  return {
    openapi: '3.0.3',
    info: { title: 'unetpp', version, description: 'UNet++ segmentation as a service: masks for images (PNG, JPEG, TIFF) and NIfTI volumes.' },
    paths: {
      '/v1/predict': {
        post: {
          summary: 'Segment one image or volume',
          description: 'Same results as `unetpp predict` with the same options. The body is the file itself (any Content-Type; the type is read from its first bytes) or multipart/form-data with one file part.',
          parameters: [
            { name: 'model', in: 'query', description: 'model name (GET /v1/models); default the first', schema: { type: 'string' } },
            { name: 'mode', in: 'query', schema: { type: 'string', enum: ['accurate', 'fast'] } },
            { name: 'level', in: 'query', description: 'pruned UNet++ L^d', schema: { type: 'integer', minimum: 1 } },
            { name: 'head', in: 'query', description: 'head read in fast mode', schema: { type: 'integer', minimum: 1 } },
            boolParam('tta', 'average over the flips of every subset of the axes (4 for images, 8 for volumes); default: as the checkpoint records'),
            { name: 'threshold', in: 'query', schema: { type: 'number', minimum: 0, maximum: 1, default: 0.5 } },
            { name: 'tile', in: 'query', description: 'sliding-window size N, HxW or DxHxW (multiples of 2^level; default the model\'s window)', schema: { type: 'string' } },
            { name: 'format', in: 'query', description: 'png (images; default), nifti (volumes; default), json', schema: { type: 'string', enum: ['png', 'nifti', 'json'] } },
            boolParam('probabilities', 'json: include the probabilities (base64 float32, little endian, [classes, height, width])'),
            boolParam('postprocess', 'false: skip the post-processing rules the checkpoint records (default true)'),
          ],
          requestBody: {
            required: true,
            content: {
              'image/png': { schema: { type: 'string', format: 'binary' } }, 'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'image/tiff': { schema: { type: 'string', format: 'binary' } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } },
            },
          },
          responses: {
            200: {
              description: 'the mask: PNG 0/255 (one class) or class ids (several), NIfTI labels for volumes, or JSON',
              content: { 'image/png': {}, 'application/gzip': {}, 'application/json': { schema: { $ref: '#/components/schemas/Prediction' } } },
            },
            400: error('bad option, corrupt input or malformed multipart (the message names it)'), 401: error('API key missing or wrong (serve --api-key)'),
            403: error('the Origin header is not allowed (serve --cors-origin)'), 404: error('unknown model'), 408: error('the request was not sent in time'),
            413: error('body too large, or the header declares too many pixels, voxels or windows'), 415: error('not PNG, JPEG, TIFF or NIfTI'),
            503: error('queue full (see Retry-After) or shutting down'), 504: error('timeout'),
          },
          security: [{}, { bearer: [] }],
        },
      },
      '/v1/models': {
        get: {
          summary: 'Served models: architecture, params, classes and their names, input (size, window, normalisation), precision',
          security: [{}, { bearer: [] }],
          responses: { 200: { description: 'list of models' }, 401: error('API key missing or wrong') },
        },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Readiness: 503 while draining', responses: { 200: { description: 'ready' }, 503: { description: 'draining' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'required when the server runs with --api-key or UNETPP_API_KEY' } },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } },
        Prediction: {
          type: 'object',
          properties: {
            model: { type: 'string' }, kind: { type: 'string', enum: ['image', 'volume'] }, width: { type: 'integer' }, height: { type: 'integer' }, depth: { type: 'integer' },
            classes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, pixels: { type: 'integer' }, fraction: { type: 'number' }, volumeMm3: { type: 'number' } } } },
            ms: { type: 'number' },
            probabilities: { type: 'object', properties: { dtype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, data: { type: 'string', format: 'byte' } } },
          },
        },
      },
    },
  };
}
