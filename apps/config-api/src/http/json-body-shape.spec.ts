import { bodyShapeProblem, MAX_BODY_DEPTH } from './json-body-shape';

describe('bodyShapeProblem', () => {
  const nested = (levels: number): unknown => (levels === 0 ? 1 : { a: nested(levels - 1) });

  it('names the path of the problem, with a key pasted where a field name goes cut short, as the validators do', () => {
    const pasted = `-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w\n-----END PRIVATE KEY-----\n`;
    for (const key of [pasted, 'x'.repeat(300)]) {
      const problem = bodyShapeProblem({ settings: { [key]: nested(MAX_BODY_DEPTH + 1) } });
      expect(problem?.message).toBe(`nests deeper than ${MAX_BODY_DEPTH} levels`);
      expect(problem?.path).toMatch(/^settings\.[\s\S]{1,30}\.a\.a/);
      expect(problem?.path).not.toMatch(/MIGHAgEAMBMG|x{30}/);
    }
    expect(bodyShapeProblem({ settings: { __proto__: 1, ['constructor']: 1 } })?.path).toBe(
      'settings.constructor',
    );
  });
});
