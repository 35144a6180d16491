// Burns CPU under the Pyroscope Node.js SDK, as an application would: configured with
// the SDK's defaults but for the server and tags, two phases under dynamic labels
// (`phase` a for one share of the time, b for the other). Prints what it measured, as
// JSON, once the SDK has uploaded its profile on stop.
//   node burn.js <server> <seconds>
const Pyroscope = require('@pyroscope/nodejs');

const [server, seconds] = [process.argv[2], Number(process.argv[3] || 4)];
Pyroscope.init({ serverAddress: server, appName: 'node-burner', tags: { region: 'eu', team: 'checkout' } });
Pyroscope.start();

function burn(ms) {
  const until = Date.now() + ms;
  let x = 0;
  while (Date.now() < until) {
    for (let i = 0; i < 1e4; i++) x += Math.sqrt(i);
  }
  return x;
}

const measured = {};
for (const [phase, share] of [['a', 0.25], ['b', 0.75]]) {
  const t0 = process.hrtime.bigint();
  Pyroscope.wrapWithLabels({ phase }, () => burn(seconds * 1000 * share));
  measured[phase] = Number(process.hrtime.bigint() - t0);
}
Pyroscope.stop().then(() => console.log(JSON.stringify({ wall_ns: measured })));
