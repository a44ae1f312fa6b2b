#!/usr/bin/env node
// patch-s3rver.js: teaches s3rver 3.7.1 conditional writes (`If-None-Match: *`),
// and makes its deletes cheap in a big directory.
//
// s3rver ignores If-None-Match on PUT and on CompleteMultipartUpload, so a
// put-if-absent would silently overwrite. This appends a wrapper to
// lib/controllers/object.js that answers 412 PreconditionFailed when the object
// exists or another conditional write of the same key is in flight. Node runs
// handlers on one thread, so claiming the key in a Set before the first
// `await` makes check-and-write atomic within the server process.
//
// Deletes: after each one, s3rver's filesystem store reads the whole parent
// directory synchronously (readdirSync) to see whether it can remove it, which
// blocks the server for as long as the directory is big: an op-log directory
// of thousands of objects (`--sink store`) stalled every other request for
// seconds per DeleteObjects. The patch tries rmdir instead and stops at the
// first directory that is not empty (the same result, in O(1)).
//
// Idempotent (a marker line says each patch is in); exits non-zero, loudly, if
// a file does not look like the one this patch was written for.
//
//   node patch-s3rver.js [node_modules/s3rver]
'use strict';

const fs = require('fs');
const path = require('path');

const MARKER = '// strata-patch: if-none-match v1';
const EXPECTED_VERSION = '3.7.1';
const ANCHORS = [
  "const S3Error = require('../models/error');",
  'exports.putObject = async function putObject(ctx) {',
  'exports.completeMultipartUpload = async function completeMultipartUpload(ctx) {',
];

const PATCH = `
${MARKER} (added by strata's tests/s3rver/patch-s3rver.js)
{
  const writing = new Set();
  const conditional = handler =>
    async function strataIfNoneMatch(ctx) {
      const noneMatch = ctx.headers['if-none-match'];
      if (noneMatch === undefined) return handler(ctx);
      if (noneMatch !== '*') {
        throw new S3Error('NotImplemented', 'strata patch: only If-None-Match: * is supported');
      }
      const id = ctx.params.bucket + '/' + ctx.params.key;
      const failed = () =>
        new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
          Condition: 'If-None-Match',
        });
      // Claimed before the first await: no other request can interleave here.
      if (writing.has(id)) throw failed();
      writing.add(id);
      try {
        if (await ctx.store.existsObject(ctx.params.bucket, ctx.params.key)) throw failed();
        return await handler(ctx);
      } finally {
        writing.delete(id);
      }
    };
  exports.putObject = conditional(exports.putObject);
  exports.completeMultipartUpload = conditional(exports.completeMultipartUpload);
}
`;

function fail(msg) {
  console.error(`patch-s3rver: ${msg}`);
  process.exit(1);
}

const root = path.resolve(process.argv[2] || path.join(__dirname, 'node_modules', 's3rver'));
let version;
try {
  version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
} catch (err) {
  fail(`cannot read ${root}/package.json (run npm ci first): ${err.message}`);
}
if (version !== EXPECTED_VERSION) {
  fail(`s3rver ${version} found in ${root}; this patch is for ${EXPECTED_VERSION}`);
}
const target = path.join(root, 'lib', 'controllers', 'object.js');
const source = fs.readFileSync(target, 'utf8');
if (!source.includes(MARKER)) {
  for (const anchor of ANCHORS) {
    if (!source.includes(anchor)) fail(`patch target not found in ${target}: ${anchor}`);
  }
  fs.writeFileSync(target, source + PATCH);
  // Check that the patched module still loads and exports the wrapped handlers.
  const patched = require(target);
  if (patched.putObject.name !== 'strataIfNoneMatch') fail(`${target}: patch did not take effect`);
}

const DELETE_MARKER = '// strata-patch: cheap empty-directory cleanup v1';
const DELETE_OLD = `    while (
      parts.length &&
      !fs.readdirSync(path.join(bucketPath, ...parts)).length
    ) {
      await fs.rmdir(path.join(bucketPath, ...parts));
      parts.pop();
    }`;
const DELETE_NEW = `    ${DELETE_MARKER}
    while (parts.length) {
      try {
        await fs.rmdir(path.join(bucketPath, ...parts));
      } catch (err) {
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST' || err.code === 'ENOENT') break;
        throw err;
      }
      parts.pop();
    }`;
const store = path.join(root, 'lib', 'stores', 'filesystem.js');
const storeSource = fs.readFileSync(store, 'utf8');
if (!storeSource.includes(DELETE_MARKER)) {
  if (!storeSource.includes(DELETE_OLD)) fail(`patch target not found in ${store}: the delete cleanup loop`);
  fs.writeFileSync(store, storeSource.replace(DELETE_OLD, DELETE_NEW));
  require(store);  // still loads
}
