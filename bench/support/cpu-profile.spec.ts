import { categoryOf, CpuProfile, flameGraphSvg, summarize } from './cpu-profile';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

/**
 * root ─┬─ handle (ours) ─┬─ send (node-apn) ── JSON.stringify (built-in)
 *       │                 └─ request (Node HTTP/2)
 *       ├─ (garbage collector)
 *       ├─ (idle)
 *       └─ start-up (ours, only sampled before the window)
 */
function profileOf(samples: [node: number, atMs: number][]): CpuProfile {
  let previous = 0;
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 5, 6, 7] },
      {
        id: 2,
        callFrame: frame('handle', 'file:///srv/dist/apps/dispatcher/src/challenges/x.js', 9),
        children: [3, 8],
      },
      {
        id: 3,
        callFrame: frame('send', 'file:///srv/node_modules/@parse/node-apn/lib/client.js', 41),
        children: [4],
      },
      { id: 4, callFrame: frame('stringify') },
      { id: 5, callFrame: frame('(garbage collector)') },
      { id: 6, callFrame: frame('(idle)') },
      { id: 7, callFrame: frame('<boot & "init">', 'file:///srv/dist/libs/config/src/load.js') },
      { id: 8, callFrame: frame('request', 'node:internal/http2/core', 1700) },
    ],
    startTime: 0,
    endTime: samples.at(-1)![1] * 1000,
    samples: samples.map(([node]) => node),
    timeDeltas: samples.map(([, atMs]) => {
      const delta = (atMs - previous) * 1000;
      previous = atMs;
      return delta;
    }),
  };
}

describe('reading a CPU profile', () => {
  // Before the window (ms 0–9): start-up. Inside (10–30): 4 in JSON.stringify called by node-apn,
  // 2 in node-apn itself, 2 in HTTP/2, 1 in our handler, 1 in GC, and idle time that does not count.
  const profile = profileOf([
    [7, 1],
    [7, 2],
    [7, 3],
    [7, 5],
    [4, 10],
    [4, 11],
    [4, 12],
    [4, 13],
    [3, 14],
    [3, 15],
    [8, 16],
    [8, 17],
    [2, 18],
    [5, 19],
    [6, 20],
    [6, 21],
    [6, 22],
    [6, 30],
  ]);
  const window = { fromMs: 10, toMs: 30 };

  it('shares the busy samples of the window by category, built-ins counting for their caller', () => {
    const breakdown = summarize(profile, window);
    expect(breakdown.busySamples).toBe(10);
    expect(breakdown.categories).toEqual([
      { name: 'node-apn', percent: 60 },
      { name: 'Node: HTTP/2', percent: 20 },
      { name: 'ours: apps/dispatcher', percent: 10 },
      { name: 'garbage collection', percent: 10 },
    ]);
  });

  it('names the hottest functions with where they live', () => {
    const [first, second] = summarize(profile, window).hottest;
    expect(first).toEqual({ name: 'stringify', where: 'built-in', category: 'node-apn', percent: 40 });
    expect(second).toEqual({
      name: 'send',
      where: '@parse/node-apn/lib/client.js:42',
      category: 'node-apn',
      percent: 20,
    });
  });

  it('counts every sample when no window is given', () => {
    expect(summarize(profile).categories).toContainEqual({ name: 'ours: libs/config', percent: 28.6 });
  });

  it('draws the call paths of the window as a flame graph, leaving out thin frames', () => {
    const svg = flameGraphSvg(profile, 'a test', window, 0.15);
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain(
      '<title>handle at apps/dispatcher/src/challenges/x.js:10: 90.0 %, ours: apps/dispatcher</title>',
    );
    expect(svg).toContain('<title>stringify at built-in: 40.0 %, node-apn</title>');
    // 10 % of the samples, under the 15 % asked for; start-up is outside the window.
    expect(svg).not.toContain('garbage collector');
    expect(svg).not.toContain('boot');
  });

  it('escapes what names and titles hold for XML', () => {
    const svg = flameGraphSvg(profile, 'a <test>', undefined, 0);
    expect(svg).toContain('a &lt;test&gt;');
    expect(svg).toContain('<title>&lt;boot &amp; &quot;init&quot;&gt; at libs/config/src/load.js:1:');
    expect(svg).toContain('>&lt;boot &amp; &quot;init&quot;&gt;</text>');
    expect(svg).not.toMatch(/<boot|& "/);
  });

  it('times the busy samples by their own intervals', () => {
    // In the window: ms 10 to 19 busy (deltas of 1 ms, the first 5 ms after ms 5), the rest idle.
    expect(summarize(profile, window).busySeconds).toBe(0.01);
  });

  it('knows the frames V8 makes up, packages, Node modules and our build', () => {
    expect(categoryOf(frame('(program)'))).toBe('native code, no JavaScript on the stack');
    expect(categoryOf(frame('x', 'file:///a/node_modules/kafkajs/src/consumer/batch.js'))).toBe('kafkajs');
    expect(categoryOf(frame('x', 'file:///a/node_modules/gaxios/build/src/gaxios.js'))).toBe(
      'firebase-admin and Google auth',
    );
    expect(categoryOf(frame('x', 'file:///a/node_modules/left-pad/index.js'))).toBe('left-pad');
    expect(categoryOf(frame('x', 'node:internal/tls/wrap'))).toBe('Node: TLS, sockets, streams');
    expect(categoryOf(frame('x', 'file:///a/dist/libs/kafka/src/resilient-consumer.js'))).toBe(
      'ours: libs/kafka',
    );
    expect(categoryOf(frame('JSON.parse'))).toBeUndefined();
  });
});
