// Exits 0 when the MongoDB-compatible server at argv[2] answers { ping: 1 }.
const { MongoClient } = require('mongodb');

const client = new MongoClient(process.argv[2], { serverSelectionTimeoutMS: 1000 });
client
  .db('admin')
  .command({ ping: 1 })
  .then(() => client.close())
  .then(() => process.exit(0))
  .catch(() => process.exit(1));
