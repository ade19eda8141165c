// PM2's entry for the Express app of bench/pm2-side-by-side.mjs: the same app, listening on $HOST:$PORT,
// as a PM2 cluster-mode app does (PM2's workers share the port through Node's cluster module).
const app = require('./express-app.cjs');

app.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
