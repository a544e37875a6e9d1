-- A queue database as the first schema version (migration v1-jobs-and-files) wrote it:
-- one suspended job of uid 1001 with two files, one of them half transferred and with
-- validators, and a server credential. Loaded by JobStoreTests.testMigratesVersion1Database.
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES('v1-jobs-and-files');
CREATE TABLE job (
    id TEXT PRIMARY KEY NOT NULL,
    owner INTEGER NOT NULL,
    state TEXT NOT NULL,
    created INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE file (
    job_id TEXT NOT NULL REFERENCES job(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO job VALUES('4bdbfe5460ea43628b0b671af1e57fd8', 1001, 'suspended', 1795567452991956,
'{"creationTime":1795567452991956,"description":"from schema v1","displayName":"old job","errorCount":0,"everResumed":true,"files":[],"id":{"hex":"4bdbfe5460ea43628b0b671af1e57fd8"},"maximumDownloadTime":7776000,"minimumNotificationInterval":500,"minimumRetryDelay":600,"modificationTime":1795567453074755,"noProgressTimeout":1209600,"options":{"allowHttpsToHttpRedirect":false,"checkRevocation":false,"customHeaders":["X-Old: 1"],"customHeadersWriteOnly":false,"dynamicContent":false,"highPerformance":false,"httpMethod":"GET","maximumDownloadSize":0,"notifyCommandLine":[],"notifyFlags":3,"proxyBypassList":"","proxyList":"","proxyUsage":"preconfig","redirectPolicy":"allow","transferPolicy":"always","verifyHost":true,"verifyPeer":true},"owner":1001,"priority":"low","secrets":{"credentials":[{"password":"v1-secret","scheme":"basic","target":"server","userName":"old"}]},"state":"suspended","transferCompletionTime":0,"type":"download"}');
INSERT INTO file VALUES('4bdbfe5460ea43628b0b671af1e57fd8', 0,
'{"bytesTotal":1048576,"bytesTransferred":524288,"completed":false,"entityTag":"\"abc\"","lastModified":0,"localName":"/home/u/a.bin","ranges":[],"remoteName":"http://127.0.0.1:1/a.bin","responseHeaders":"","temporaryName":"/home/u/BIT0123456789ABCDEF.tmp","validationState":"unknown"}');
INSERT INTO file VALUES('4bdbfe5460ea43628b0b671af1e57fd8', 1,
'{"bytesTransferred":0,"completed":false,"lastModified":0,"localName":"/home/u/b.bin","ranges":[],"remoteName":"http://127.0.0.1:1/b.bin","responseHeaders":"","temporaryName":"/home/u/BITFEDCBA9876543210.tmp","validationState":"unknown"}');
