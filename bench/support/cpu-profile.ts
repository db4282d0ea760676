/**
 * Reading a V8 CPU profile (`node --cpu-prof`): where the time went, by category (GC, each package,
 * Node's own modules, our code), the hottest functions, and a flame graph as SVG. Only the samples
 * taken inside a time window count, so start-up and shutdown do not blur what a push costs.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a `.cpuprofile` read here (times in microseconds, on the profiled process's clock). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CpuShare {
  name: string;
  percent: number;
}

export interface CpuBreakdown {
  /** Samples in the window with the process busy (idle samples left out), and their duration. */
  busySamples: number;
  busySeconds: number;
  /** Share of the busy samples by category, largest first. */
  categories: CpuShare[];
  /** The functions with the most self time, largest first. */
  hottest: (CpuShare & { where: string; category: string })[];
}

/** A window of the profile, in milliseconds since the profiler started (about when the process did). */
export interface ProfileWindow {
  fromMs: number;
  toMs: number;
}

const IDLE = '(idle)';

/** Package families worth one line each; any other package is named by itself. */
const PACKAGE_FAMILIES: [RegExp, string][] = [
  [/^(@parse\/node-apn|jsonwebtoken|jws|jwa|verror)$/, 'node-apn'],
  [/^kafkajs$/, 'kafkajs'],
  [
    /^(firebase-admin|google-auth-library|gaxios|gcp-metadata|gtoken|node-fetch|agent-base|https-proxy-agent)$/,
    'firebase-admin and Google auth',
  ],
  [/^(mongoose|mongodb|bson)$/, 'mongoose and mongodb'],
  [/^(@nestjs\/.*|rxjs|reflect-metadata)$/, 'Nest'],
  [/^(pino|pino-.*|sonic-boom|thread-stream)$/, 'logging (pino)'],
];

/**
 * The category of a frame, or undefined for frames with no script of their own (built-ins such as
 * JSON.stringify, native bindings): those count for the caller that used them.
 */
export function categoryOf(frame: CallFrame): string | undefined {
  switch (frame.functionName) {
    case '(garbage collector)':
      return 'garbage collection';
    case '(program)':
      return 'native code, no JavaScript on the stack';
    case IDLE:
      return IDLE;
    case '(root)':
      return undefined;
  }
  const url = frame.url;
  if (!url) return undefined;
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inPackage) {
    const family = PACKAGE_FAMILIES.find(([pattern]) => pattern.test(inPackage[1]));
    return family ? family[1] : inPackage[1];
  }
  if (url.startsWith('node:')) {
    if (/http2/.test(url)) return 'Node: HTTP/2';
    if (/tls|net|stream|socket|buffer|crypto/.test(url)) return 'Node: TLS, sockets, streams';
    if (/timers|promise|async_hooks|task_queues|process\/|events/.test(url))
      return 'Node: timers, promises, events';
    return 'Node: other';
  }
  const ours = /\/dist\/((?:apps|libs)\/[^/]+)\//.exec(url);
  if (ours) return `ours: ${ours[1]}`;
  return 'other scripts';
}

/** Per node inside the window: its samples, and the time they stand for (each sample's delta, in µs). */
function samplesInWindow(
  profile: CpuProfile,
  window?: ProfileWindow,
): Map<number, { samples: number; us: number }> {
  const counts = new Map<number, { samples: number; us: number }>();
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const ms = at / 1000;
    if (window && (ms < window.fromMs || ms > window.toMs)) continue;
    const tally = counts.get(profile.samples[i]) ?? { samples: 0, us: 0 };
    tally.samples += 1;
    tally.us += delta;
    counts.set(profile.samples[i], tally);
  }
  return counts;
}

/** Each node's category (its own, or its caller's) and its parent, from the root down. */
function walk(profile: CpuProfile): {
  byId: Map<number, ProfileNode>;
  category: Map<number, string>;
  parent: Map<number, number>;
} {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const category = new Map<number, string>();
  const parent = new Map<number, number>();
  const root = profile.nodes[0];
  const stack: [ProfileNode, string][] = [[root, 'other scripts']];
  while (stack.length > 0) {
    const [node, inherited] = stack.pop()!;
    const own = categoryOf(node.callFrame) ?? inherited;
    category.set(node.id, own);
    for (const childId of node.children ?? []) {
      const child = byId.get(childId);
      if (!child) continue;
      parent.set(childId, node.id);
      stack.push([child, own]);
    }
  }
  return { byId, category, parent };
}

const describe = (frame: CallFrame) => frame.functionName || '(anonymous)';

/** Where a frame's code lives, short: `kafkajs/src/consumer/batch.js:42` or `node:internal/http2/core:1`. */
export function whereOf(frame: CallFrame): string {
  if (!frame.url) return 'built-in';
  const short = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist)\//, '');
  return `${short}:${frame.lineNumber + 1}`;
}

export function summarize(profile: CpuProfile, window?: ProfileWindow, top = 12): CpuBreakdown {
  const counts = samplesInWindow(profile, window);
  const { byId, category } = walk(profile);
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { name: string; where: string; category: string; samples: number }>();
  let busy = 0;
  let busyUs = 0;
  for (const [id, { samples, us }] of counts) {
    const node = byId.get(id);
    const name = category.get(id);
    if (!node || !name || name === IDLE) continue;
    busy += samples;
    busyUs += us;
    byCategory.set(name, (byCategory.get(name) ?? 0) + samples);
    const where = whereOf(node.callFrame);
    // A built-in is listed once per category that called it: JSON.stringify for kafkajs is not node-apn's.
    const key = `${describe(node.callFrame)} ${where}${node.callFrame.url ? '' : ` ${name}`}`;
    const entry = byFunction.get(key) ?? {
      name: describe(node.callFrame),
      where,
      category: name,
      samples: 0,
    };
    entry.samples += samples;
    byFunction.set(key, entry);
  }
  const share = (samples: number) => Math.round((samples / Math.max(1, busy)) * 1000) / 10;
  return {
    busySamples: busy,
    busySeconds: Math.round(busyUs / 1e4) / 100,
    categories: [...byCategory]
      .sort((a, b) => b[1] - a[1])
      .map(([name, samples]) => ({ name, percent: share(samples) })),
    hottest: [...byFunction.values()]
      .sort((a, b) => b.samples - a.samples)
      .slice(0, top)
      .map(({ samples, ...rest }) => ({ ...rest, percent: share(samples) })),
  };
}

interface FlameFrame {
  name: string;
  where: string;
  category: string;
  samples: number;
  children: Map<string, FlameFrame>;
}

/** The busy samples as a tree of call paths (frames of one caller with the same function merged). */
function flameTree(profile: CpuProfile, window?: ProfileWindow): FlameFrame {
  const counts = samplesInWindow(profile, window);
  const { byId, category, parent } = walk(profile);
  const root: FlameFrame = {
    name: 'all busy samples',
    where: '',
    category: '',
    samples: 0,
    children: new Map(),
  };
  for (const [id, { samples }] of counts) {
    if (category.get(id) === IDLE) continue;
    const path: number[] = [];
    for (let at: number | undefined = id; at !== undefined && at !== profile.nodes[0].id; at = parent.get(at))
      path.push(at);
    root.samples += samples;
    let frame = root;
    for (const nodeId of path.reverse()) {
      const node = byId.get(nodeId)!;
      const where = whereOf(node.callFrame);
      const key = `${describe(node.callFrame)} ${where}`;
      let child = frame.children.get(key);
      if (!child) {
        child = {
          name: describe(node.callFrame),
          where,
          category: category.get(nodeId)!,
          samples: 0,
          children: new Map(),
        };
        frame.children.set(key, child);
      }
      child.samples += samples;
      frame = child;
    }
  }
  return root;
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Hues of the packages a push goes through, far apart so they read apart in the graph. */
const PACKAGE_HUES: Record<string, number> = {
  'node-apn': 25,
  kafkajs: 55,
  'firebase-admin and Google auth': 40,
  'prom-client': 320,
  'mongoose and mongodb': 285,
  Nest: 345,
};

/** A colour per kind of category (ours green, Node blue, packages warm or purple), stable across runs. */
function colourOf(category: string): string {
  let hash = 0;
  for (const char of category) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const shade = 62 + (hash % 4) * 6;
  if (category.startsWith('ours: ')) return `hsl(${100 + (hash % 50)}, 55%, ${shade}%)`;
  if (category.startsWith('Node: ')) return `hsl(${195 + (hash % 40)}, 60%, ${shade}%)`;
  if (category === 'garbage collection') return 'hsl(0, 65%, 70%)';
  if (category.startsWith('native')) return 'hsl(0, 0%, 75%)';
  // Any other package: pale, between the named ones.
  return `hsl(${PACKAGE_HUES[category] ?? 270 + (hash % 40)}, ${category in PACKAGE_HUES ? 80 : 35}%, ${shade}%)`;
}

/**
 * A flame graph (callers at the top, callees below; width = share of busy samples). Frames under
 * `minShare` of the samples are left out, which keeps the file small. Hovering a frame shows its
 * function, file and share (SVG titles).
 */
export function flameGraphSvg(
  profile: CpuProfile,
  title: string,
  window?: ProfileWindow,
  minShare = 0.002,
): string {
  const root = flameTree(profile, window);
  const width = 1200;
  const rowHeight = 17;
  const top = 30;
  const total = Math.max(1, root.samples);
  const rects: string[] = [];
  const categories = new Map<string, number>();
  let depthReached = 0;
  const place = (frame: FlameFrame, x: number, depth: number) => {
    const w = (frame.samples / total) * width;
    depthReached = Math.max(depthReached, depth);
    const y = top + depth * rowHeight;
    const percent = ((frame.samples / total) * 100).toFixed(1);
    const label = `${frame.name}${frame.where ? ` at ${frame.where}` : ''}: ${percent} %${frame.category ? `, ${frame.category}` : ''}`;
    const fill = frame.category ? colourOf(frame.category) : '#ddd';
    if (frame.category) categories.set(frame.category, (categories.get(frame.category) ?? 0) + 1);
    const chars = Math.floor((w - 4) / 6.5);
    const text =
      chars >= 3 ? (frame.name.length > chars ? `${frame.name.slice(0, chars - 1)}…` : frame.name) : '';
    rects.push(
      `<g><title>${escapeXml(label)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${rowHeight - 1}" fill="${fill}"/>` +
        (text ? `<text x="${(x + 2).toFixed(2)}" y="${y + 12}">${escapeXml(text)}</text>` : '') +
        '</g>',
    );
    let childX = x;
    const children = [...frame.children.values()].sort((a, b) => b.samples - a.samples);
    for (const child of children) {
      if (child.samples / total >= minShare) place(child, childX, depth + 1);
      childX += (child.samples / total) * width;
    }
  };
  place(root, 0, 0);
  const legendTop = top + (depthReached + 1) * rowHeight + 16;
  const legend = [...categories.keys()].sort().map((name, i) => {
    const x = (i % 4) * 300;
    const y = legendTop + Math.floor(i / 4) * 18;
    return `<rect x="${x}" y="${y}" width="12" height="12" fill="${colourOf(name)}"/><text x="${x + 16}" y="${y + 10}">${escapeXml(name)}</text>`;
  });
  const height = legendTop + Math.ceil(categories.size / 4) * 18 + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="0" y="18" font-size="14" font-family="sans-serif">${escapeXml(title)}</text>`,
    ...rects,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
