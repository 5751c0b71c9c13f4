/** Ferry's version, as the `server` header of CONNECTED says it (`Ferry/<version>`); a unit test keeps it equal to package.json. */
export const FERRY_STOMP_VERSION = '0.1.0';
export const SERVER_NAME = `Ferry/${FERRY_STOMP_VERSION}`;
