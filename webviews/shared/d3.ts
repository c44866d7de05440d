// d3, imported one way: every view draws with the pieces re-exported here (`import * as d3 from '../shared/d3'`), and
// each piece's package is declared in package.json. ESLint keeps other files from importing d3 packages themselves.
export { ascending, max, min, quantile, range } from 'd3-array';
export { axisBottom, axisLeft, axisRight } from 'd3-axis';
export { color, rgb } from 'd3-color';
export { Delaunay } from 'd3-delaunay';
export { format } from 'd3-format';
export { interpolateLab, interpolateRgb } from 'd3-interpolate';
export { quadtree, type Quadtree } from 'd3-quadtree';
export { scaleLinear, scaleLog, type NumberValue, type ScaleContinuousNumeric, type ScaleLinear } from 'd3-scale';
export { pointer, select, type BaseType, type Selection } from 'd3-selection';
export { line, symbol, symbolStar, symbolTriangle } from 'd3-shape';
export { zoom, zoomIdentity, type ZoomBehavior, type ZoomTransform } from 'd3-zoom';
