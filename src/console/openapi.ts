/** The console API as an OpenAPI 3.1 document, served at /api/openapi.json. */
import { OUTCOMES } from './queries.js';
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const err = { description: 'error', ...json({ $ref: '#/components/schemas/Error' }) };
const common = { '400': err, '401': { ...err, description: 'not logged in' }, '403': { ...err, description: 'wrong role or missing CSRF token' } };
/** Every operation that reads a JSON body can answer these before it looks at the fields. */
const bodyErrors = { '413': { ...err, description: 'the body is larger than 64 KiB' }, '415': { ...err, description: 'the body is not declared application/json' } };
const ok = (description: string, schema: object = { type: 'object' }) => ({ '200': { description, ...json(schema) }, ...common });
const created = (description: string) => ({ '201': { description, ...json({ type: 'object' }) }, '404': err, '409': err, ...common, ...bodyErrors });
const refParams = ['topic', 'partition', 'offset'].map((name) => ({ name, in: 'path', required: true, schema: name === 'topic' ? { type: 'string' } : { type: 'string', pattern: '^\\d+$' } }));
const query = (names: string[]) => names.map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } }));
const csrf = { name: 'X-CSRF-Token', in: 'header', required: true, schema: { type: 'string' } };
const SESSION = { $ref: '#/components/schemas/Session' };
const body = (properties: Record<string, object>, required: string[], more: object = {}) => ({ required: true, ...json({ type: 'object', properties, required, ...more }) });
/** `async` on a real replay: answer 202 at once with a job to poll, instead of after the replay (an outbound receiver's retries included). */
const ASYNC = { type: 'boolean', description: 'dryRun false only: answer 202 with a job (GET /api/jobs/{id}) instead of waiting for the replay' };
const JOB_ACCEPTED = {
  description: 'the replay runs on; poll the job at the Location header',
  headers: { Location: { description: '/api/jobs/{id}', schema: { type: 'string' } } },
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
};
const BUSY = { ...err, description: 'async: too many replays are running in this console' };
/** A queue group names its queue: a channel, or a write-back destination. */
const CHANNEL_OR_DESTINATION = { oneOf: [{ required: ['channel'] }, { required: ['destination'] }] };

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'hl7-engine operator console API',
      version: '1',
      description: 'Every endpoint but POST /api/session needs the session cookie; every POST and DELETE needs X-CSRF-Token. Roles: viewer (metadata), operator (decisions, audited content), admin (users). No answer carries message content except /content, which is audited first.',
    },
    components: {
      securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'hl7c_session' } },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
        Ref: { type: 'object', properties: { topic: { type: 'string' }, partition: { type: 'integer', minimum: 0 }, offset: { type: 'string', pattern: '^\\d+$' } }, required: ['topic', 'partition', 'offset'] },
        Session: { type: 'object', properties: { user: { type: 'string' }, role: { enum: ['viewer', 'operator', 'admin'] }, csrfToken: { type: 'string' } }, required: ['user', 'role', 'csrfToken'] },
        Message: {
          type: 'object',
          description: 'Metadata of a raw or dead-letter record; never its content.',
          properties: {
            ref: { $ref: '#/components/schemas/Ref' },
            kind: { enum: ['raw', 'dlq'] },
            channel: { type: 'string' },
            controlId: { type: ['string', 'null'] },
            outcome: { enum: [...OUTCOMES] },
            patientKey: { type: ['string', 'null'] },
            resubmitOf: { description: 'the dead letter an edit-and-resubmit stored this raw record in place of', anyOf: [{ $ref: '#/components/schemas/Ref' }, { type: 'null' }] },
          },
          required: ['ref', 'kind', 'channel', 'outcome'],
        },
        ChannelOverview: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            topics: { type: 'object', properties: { raw: { type: 'string' }, fhir: { type: 'string' }, dlq: { type: 'string' } }, required: ['raw', 'fhir', 'dlq'] },
            slaMinutes: { type: 'number' },
            mapping: { type: ['string', 'null'] },
            listener: { enum: ['listening', 'not-listening', null] },
            connections: { type: ['integer', 'null'], minimum: 0 },
            messagesPerSecond: { type: 'number', minimum: 0 },
            ackCodes: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
            transformLag: { type: ['integer', 'null'], minimum: 0 },
            deadLetters: {
              type: 'object',
              properties: { waiting: { type: 'integer', minimum: 0 }, overdue: { type: 'integer', minimum: 0 }, oldestAgeSeconds: { type: ['number', 'null'] } },
              required: ['waiting', 'overdue', 'oldestAgeSeconds'],
            },
            unknown: { type: 'object', description: 'why each null field is not known', additionalProperties: { type: 'string' } },
          },
          required: ['name', 'topics', 'listener', 'connections', 'messagesPerSecond', 'ackCodes', 'transformLag', 'deadLetters', 'unknown'],
        },
        Queue: {
          type: 'object',
          properties: {
            channel: { type: 'string', description: 'the channel, or for direction outbound the destination' },
            direction: { enum: ['inbound', 'outbound'] },
            destination: { type: 'string', description: 'outbound only: the destination' },
            slaMinutes: { type: 'integer', minimum: 1 },
            waiting: { type: 'integer', minimum: 0 },
            overdue: { type: 'integer', minimum: 0 },
            oldestAgeSeconds: { type: 'integer', minimum: 0 },
            groups: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  category: { type: 'string' },
                  stage: { type: 'string' },
                  cause: { type: 'string' },
                  count: { type: 'integer', minimum: 1 },
                  overdue: { type: 'integer', minimum: 0 },
                  oldestAgeSeconds: { type: 'integer', minimum: 0 },
                  members: { type: 'string', description: 'URL of the first page of its members (GET /api/queue/members)' },
                },
                required: ['category', 'stage', 'cause', 'count', 'overdue', 'oldestAgeSeconds', 'members'],
              },
            },
          },
          required: ['channel', 'direction', 'slaMinutes', 'waiting', 'overdue', 'oldestAgeSeconds', 'groups'],
        },
        Job: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            kind: { enum: ['replay', 'group-replay'] },
            operator: { type: 'string' },
            startedAt: { type: 'string' },
            state: { enum: ['running', 'done', 'failed'] },
            finishedAt: { type: ['string', 'null'] },
            result: { description: 'done: the answer of the synchronous replay' },
            error: { anyOf: [{ type: 'null' }, { type: 'object', properties: { status: { type: 'integer' }, message: { type: 'string' } }, required: ['status', 'message'] }] },
          },
          required: ['id', 'kind', 'operator', 'startedAt', 'state', 'finishedAt', 'result', 'error'],
        },
        QueueMember: {
          type: 'object',
          description: 'A waiting dead letter as a queue page lists it (GET /api/dead-letters/{ref} has its history).',
          properties: {
            ref: { $ref: '#/components/schemas/Ref' },
            category: { type: 'string' },
            stage: { type: 'string' },
            cause: { type: 'string' },
            controlId: { type: ['string', 'null'] },
            messageType: { type: ['string', 'null'] },
            attempts: { type: 'integer', minimum: 0 },
            ageSeconds: { type: 'integer', minimum: 0 },
            overdue: { type: 'boolean' },
            assignee: { type: ['string', 'null'] },
            escalated: { type: 'boolean' },
          },
          required: ['ref', 'category', 'stage', 'cause', 'controlId', 'messageType', 'attempts', 'ageSeconds', 'overdue', 'assignee', 'escalated'],
        },
        DeadLetter: {
          type: 'object',
          properties: {
            ref: { $ref: '#/components/schemas/Ref' },
            channel: { type: 'string', description: 'the channel, or for an outbound dead letter the destination' },
            direction: { enum: ['inbound', 'outbound'], description: "inbound: a channel's dead letter (ingest, transform); outbound: a write-back destination's (its receiver refused the message, retries ran out, or the outbound mapping built none)" },
            status: { enum: ['waiting', 'resolved', 'discarded', 'superseded', 'resubmitted'] },
            category: { type: 'string' },
            cause: { type: 'string' },
            ageSeconds: { type: 'number' },
            overdue: { type: 'boolean' },
            history: { type: 'array' },
            resubmittedAs: { description: 'the raw record an edit-and-resubmit stored in its place', anyOf: [{ $ref: '#/components/schemas/Ref' }, { type: 'null' }] },
          },
          required: ['ref', 'channel', 'direction', 'status', 'category', 'cause', 'ageSeconds', 'overdue'],
        },
      },
    },
    security: [{ session: [] }],
    paths: {
      '/api/session': {
        post: { summary: 'Log in', security: [], requestBody: body({ user: { type: 'string' }, password: { type: 'string' } }, ['user', 'password']), responses: { ...ok('logged in; sets the session cookie', SESSION), ...bodyErrors, '429': { ...err, description: 'throttled after failed logins' } } },
        get: { summary: 'The current session and its CSRF token', responses: ok('session', SESSION) },
        delete: { summary: 'Log out', parameters: [csrf], responses: ok('logged out', { type: 'object', properties: { loggedOut: { const: true } }, required: ['loggedOut'] }) },
      },
      '/api/openapi.json': { get: { summary: 'This document', responses: ok('OpenAPI 3.1') } },
      '/api/channels': {
        get: {
          summary: 'Channel overview: listener, connections, messages/s, ACK codes, transform lag, waiting dead letters',
          description:
            'Messages/s (last 60 s) and ACK codes (last hour) count messages the channel answered, from the index; transform lag is raw records the transform group has not committed, from Kafka. Listener state and connections are known only when the console runs inside the engine (start --console); otherwise they are null and unknown says why.',
          responses: ok('one entry per channel', { type: 'array', items: { $ref: '#/components/schemas/ChannelOverview' } }),
        },
      },
      '/api/messages': {
        get: {
          summary: 'Search messages (metadata only)',
          parameters: query(['channel', 'controlId', 'messageType', 'trigger', 'sendingApplication', 'sendingFacility', 'since', 'until', 'ackCode', 'outcome', 'repair', 'patientKey', 'limit', 'after']),
          responses: {
            ...ok('messages, newest first', { type: 'array', items: { $ref: '#/components/schemas/Message' } }),
            '200': {
              description: 'messages, newest first (receive time, then topic, partition, offset); a full page carries a Link header to the next one',
              headers: { Link: { description: '<URL of the next page>; rel="next": the same search with after=<cursor of the last row>; absent when the page is not full', schema: { type: 'string' } } },
              ...json({ type: 'array', items: { $ref: '#/components/schemas/Message' } }),
            },
          },
        },
      },
      '/api/patient-key': {
        post: { summary: 'The hash a patient identifier is searched by', parameters: [csrf], requestBody: body({ identifier: { type: 'string' }, authority: { type: 'string' }, sendingFacility: { type: 'string' } }, ['identifier']), responses: { ...ok('patient key', { type: 'object', properties: { patientKey: { type: 'string', pattern: '^pt:[0-9a-f]{32}$' } }, required: ['patientKey'] }), ...bodyErrors } },
      },
      '/api/messages/{topic}/{partition}/{offset}': { get: { summary: 'A message with its lineage', parameters: refParams, responses: { ...ok('message', { type: 'object', properties: { message: { $ref: '#/components/schemas/Message' }, deadLetters: { type: 'array' }, bundles: { type: 'array' } }, required: ['message', 'deadLetters', 'bundles'] }), '404': err } } },
      '/api/queue': {
        get: {
          summary: 'The reconciliation queue: per channel, then per write-back destination (direction outbound), its groups by category, stage and cause with counts and ages',
          description:
            "One entry per channel (direction inbound), then one per destination in the console's destinations folder (direction outbound, destination naming it), each with its review.slaMinutes (the channel file's, or the destination file's; 240 by default), how many wait, how many are overdue, the oldest's age, and its groups, largest first. A group carries counts and ages, not its members: members is the URL of their first page (GET /api/queue/members). The counts are kept by the index as dead letters arrive and are decided, so this answer costs the number of groups, not the number waiting.",
          responses: ok('queue', { type: 'array', items: { $ref: '#/components/schemas/Queue' } }),
        },
      },
      '/api/queue/members': {
        get: {
          summary: "One page of a queue group's waiting dead letters, oldest first",
          description:
            'The group as /api/queue names it: channel (or destination for an outbound queue), category, stage and cause, all required. Oldest first (waiting since, then topic, partition, offset); limit 1-1000, 100 by default. A full page carries Link: <URL>; rel="next", the same request with after=<cursor> (keyset: a page costs the same wherever it starts, and members decided meanwhile do not shift the pages). Metadata only. A channel or destination this console does not serve answers 409.',
          parameters: query(['channel', 'destination', 'category', 'stage', 'cause', 'limit', 'after']),
          responses: {
            ...common,
            '200': {
              description: 'members, oldest first; a full page carries a Link header to the next one',
              headers: { Link: { description: '<URL of the next page>; rel="next"; absent when the page is not full', schema: { type: 'string' } } },
              ...json({ type: 'array', items: { $ref: '#/components/schemas/QueueMember' } }),
            },
            '409': { ...err, description: 'the channel or destination is not served by this console' },
          },
        },
      },
      '/api/queue/decisions': {
        post: {
          summary: 'Resolve, discard, assign or escalate every waiting dead letter of a queue group (operator; one audit record listing every target, written first)',
          description:
            'The group is a channel (or, with destination instead, a write-back destination) and category, narrowed to one cause (as /api/queue shows it) when cause is given. More waiting members than the channel review.maxGroupSize (for a destination, the default 200) is refused (422) with the count. The audit record is the one hl7-engine dlq writes for the same queue.',
          parameters: [csrf],
          requestBody: body(
            { channel: { type: 'string' }, destination: { type: 'string', description: 'instead of channel: a destination queue' }, category: { type: 'string' }, cause: { type: 'string' }, action: { enum: ['resolve', 'discard', 'assign', 'escalate'] }, reason: { type: 'string' }, assignee: { type: 'string' } },
            ['category', 'action', 'reason'],
            CHANNEL_OR_DESTINATION,
          ),
          responses: { ...created('decision recorded for every member'), '422': { ...err, description: 'the group is larger than review.maxGroupSize' } },
        },
      },
      '/api/queue/replay': {
        post: {
          summary: 'Replay a whole queue group: dry run first, then the replay (operator; audited)',
          description:
            'The group is selected as for /api/queue/decisions (channel or destination, category, optionally cause), at most the channel review.maxGroupSize (422 above). dryRun: true converts every member and answers the diff (for a destination: lists what would be sent to its receiver), writing nothing; dryRun: false then needs a reason and a dry run of the same members by the same session in the last 15 minutes (409 otherwise, also when the group changed since). The replay writes replay-started and replay-finished audit records listing the members (selection.offsets) and the ones it resolved.',
          parameters: [csrf],
          requestBody: body({ channel: { type: 'string' }, destination: { type: 'string' }, category: { type: 'string' }, cause: { type: 'string' }, dryRun: { type: 'boolean' }, reason: { type: 'string' }, async: ASYNC }, ['category', 'dryRun'], CHANNEL_OR_DESTINATION),
          responses: {
            '202': JOB_ACCEPTED,
            '503': BUSY,
            '201': {
              description: 'the dry run or the replay report, with the members as they are now',
              ...json({
                type: 'object',
                properties: {
                  dryRun: { type: 'boolean' },
                  replayId: { type: ['string', 'null'] },
                  outcome: { type: 'string' },
                  counts: { type: 'object' },
                  diff: { type: 'array', items: { type: 'string' } },
                  count: { type: 'integer', minimum: 1 },
                  deadLetters: { type: 'array', items: { $ref: '#/components/schemas/DeadLetter' } },
                },
                required: ['dryRun', 'replayId', 'outcome', 'counts', 'diff', 'count', 'deadLetters'],
              }),
            },
            '404': err,
            '409': err,
            '422': { ...err, description: 'the group is larger than review.maxGroupSize' },
            ...common,
            ...bodyErrors,
          },
        },
      },
      '/api/dead-letters': {
        get: {
          summary: 'Dead letters (status: waiting by default, resolved, discarded, superseded, resubmitted or all), oldest first, 100 a page (limit up to 1000)',
          parameters: query(['channel', 'category', 'status', 'limit', 'after']),
          responses: {
            ...ok('dead letters (without their history), oldest first', { type: 'array', items: { $ref: '#/components/schemas/DeadLetter' } }),
            '200': {
              description: 'dead letters (without their history), oldest first; a full page carries a Link header to the next one',
              headers: { Link: { description: '<URL of the next page>; rel="next": the same list with after=<cursor of the last row>; absent when the page is not full', schema: { type: 'string' } } },
              ...json({ type: 'array', items: { $ref: '#/components/schemas/DeadLetter' } }),
            },
          },
        },
      },
      '/api/dead-letters/{topic}/{partition}/{offset}': { get: { summary: 'A dead letter with its history', parameters: refParams, responses: { ...ok('dead letter', { allOf: [{ $ref: '#/components/schemas/DeadLetter' }, { required: ['history'] }] }), '404': err } } },
      '/api/dead-letters/{topic}/{partition}/{offset}/decisions': {
        post: {
          summary: 'Resolve, discard, assign or escalate (operator; audited first)',
          parameters: [...refParams, csrf],
          requestBody: body({ action: { enum: ['resolve', 'discard', 'assign', 'escalate'] }, reason: { type: 'string' }, assignee: { type: 'string' } }, ['action', 'reason']),
          responses: created('decision recorded'),
        },
      },
      '/api/dead-letters/{topic}/{partition}/{offset}/replay': {
        post: {
          summary: 'Dry run, then replay (operator; audited)',
          description: "An inbound dead letter is converted again through its channel's mapping set; an outbound one is sent again to its destination's receiver through the outbound replay path (as hl7-engine replay --destination: the stored message, same MSH-10). The dry run of the same dead letter by the same session comes first.",
          parameters: [...refParams, csrf], requestBody: body({ dryRun: { type: 'boolean' }, reason: { type: 'string' }, async: ASYNC }, ['dryRun']),
          responses: { ...created('replay report'), '202': JOB_ACCEPTED, '503': BUSY },
        },
      },
      '/api/dead-letters/{topic}/{partition}/{offset}/resubmit': {
        post: {
          summary: 'Edit-and-resubmit: store corrected text as a new raw record linked to the dead letter (operator; audited first)',
          description:
            'Inbound dead letters only: an outbound one (a message the engine built for a destination) answers 409; fix the outbound mapping or the receiver and replay it. text is the corrected message, segments one per line (any line break becomes CR). It is checked as ingest checks a frame (listener.maxFrameBytes, charset, parse, the channel accept rules): a failing edit answers 422 with the reason and nothing is written. Otherwise a dlq-decision audit record (action resubmit, hashes of the old and new bytes, never the text) is stored, then the raw record on <channel>.raw with hl7_resubmit_of_* headers naming the dead letter, then a second audit record naming where it landed. The dead letter itself is not changed; its status becomes resubmitted. Read the text to edit with POST /api/records/{ref}/content (audited). Bodies up to 2 MiB.',
          parameters: [...refParams, csrf],
          requestBody: body({ text: { type: 'string' }, reason: { type: 'string' } }, ['text', 'reason']),
          responses: {
            '201': {
              description: 'resubmitted',
              ...json({
                type: 'object',
                properties: {
                  decision: { type: 'object', description: 'the audit record written before anything was produced' },
                  finished: { type: 'object', description: 'the audit record naming the new raw record' },
                  newRecord: { $ref: '#/components/schemas/Ref' },
                  diff: { type: 'array', items: { type: 'string' }, description: 'segment lines: "- " removed, "+ " added, unchanged runs counted' },
                  deadLetter: { $ref: '#/components/schemas/DeadLetter' },
                },
                required: ['decision', 'finished', 'newRecord', 'diff', 'deadLetter'],
              }),
            },
            '404': err,
            '409': err,
            '422': { ...err, description: 'the edit would not be accepted by ingest (the reason says why); nothing was written' },
            '503': { ...err, description: 'the decision was recorded but Kafka did not store the raw record; the dead letter stays waiting' },
            ...common,
            ...bodyErrors,
            '413': { ...err, description: 'the body is larger than 2 MiB' },
          },
        },
      },
      '/api/jobs/{id}': {
        get: {
          summary: 'A replay started with async: true (operator): running, done (result: the answer the synchronous replay gives) or failed (error: status and reason)',
          description: "Jobs live in this console's memory, an hour after they finish; the replay's audit records are the lasting trace.",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { ...ok('the job', { $ref: '#/components/schemas/Job' }), '404': err },
        },
      },
      '/api/records/{topic}/{partition}/{offset}/content': {
        post: { summary: 'Show content (operator; audited before it is read)', parameters: [...refParams, csrf], requestBody: body({ reason: { type: 'string' } }, ['reason']), responses: created('content') },
      },
      '/api/users': { get: { summary: 'Console users (admin)', responses: ok('users (never their password hashes)', { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, role: { enum: ['viewer', 'operator', 'admin'] } }, required: ['name', 'role'] } }) } },
    },
  };
}
