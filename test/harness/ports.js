// @ts-check
'use strict';
const net = require('net');

/**
 * A port that is free on 127.0.0.1 right now (the OS picks it).
 * @returns {Promise<number>}
 */
function getFreePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const addr = srv.address();
			const port = typeof addr === 'object' && addr ? addr.port : 0;
			srv.close(() => resolve(port));
		});
	});
}

module.exports = { getFreePort };
