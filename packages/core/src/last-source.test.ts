import { LastSource } from './last-source.js';

describe('LastSource', () => {
  it('gives the last source again for the same address, a new one for another', () => {
    const sources = new LastSource('devices', 'mqtt');
    const a = sources.of('plant/a');
    expect(a).toEqual({ connector: 'devices', protocol: 'mqtt', address: 'plant/a' });
    expect(sources.of('plant/a')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    const b = sources.of('plant/b');
    expect(b).not.toBe(a);
    expect(b).toEqual({ connector: 'devices', protocol: 'mqtt', address: 'plant/b' });
    // only the last one is kept: back to the first address makes a new object, equal to it
    const again = sources.of('plant/a');
    expect(again).not.toBe(a);
    expect(again).toEqual(a);
  });
});
