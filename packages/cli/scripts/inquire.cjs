// Stands in for @protobufjs/inquire in the CLI's bundle. protobufjs looks optional modules up at
// run time; the CLI wants only Node's Buffer from it. int64 values are converted to Number, so
// the Long library (a few milliseconds to load on every command) is not needed.
module.exports = function inquire(name) {
  return name === 'buffer' ? require('buffer') : null;
};
