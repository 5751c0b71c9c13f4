/** MQTT 5 reason codes (§2.4) and MQTT 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3) Ferry sends. */
export const RC = {
  success: 0x00,
  disconnectWithWill: 0x04,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdentifierNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  sharedSubscriptionsNotSupported: 0x9e,
} as const;

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes */
export const RC3 = {
  accepted: 0x00,
  unacceptableProtocolVersion: 0x01,
  identifierRejected: 0x02,
  serverUnavailable: 0x03,
  badUserNameOrPassword: 0x04,
  notAuthorized: 0x05,
} as const;

/** MQTT 3.1.1 §3.9.3 SUBACK failure */
export const SUBACK_FAILURE_V3 = 0x80;
