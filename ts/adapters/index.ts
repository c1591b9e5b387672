/** `ocp.adapters`: tensors of @tensorflow/tfjs and onnxruntime-node to and from `NdArray` (neither is a dependency: pass the module). */
export * from './tfjs.js';
export * from './onnx.js';
