/**
 * Who may use the operator console: the users file and its command, password hashing,
 * sessions with CSRF tokens, the failed-login throttle, and a reverse proxy's identity header
 * when one is trusted. Nothing here speaks HTTP.
 */
export { hashPassword, verifyPassword, passwordProblem, SCRYPT_PARAMS, MIN_PASSWORD_LENGTH } from './passwords.js';
export { ROLES, roleAllows, isRole, defaultUsersPath, readUsers, writeUsers, userNameProblem, UsersFileError, type Role, type UserEntry, type UsersFile } from './users-file.js';
export { SessionStore, csrfMatches, DEFAULT_SESSION_LIMITS, type Session, type SessionLimits } from './sessions.js';
export { LoginThrottle, DEFAULT_THROTTLE, type ThrottleOptions } from './throttle.js';
export { Authenticator, type LoginResult, type LoginEvents } from './authenticator.js';
export { TrustedProxy, trustedProxyProblem, type TrustedProxyConfig } from './proxy-identity.js';
export { runUsers, readSecretFromStdin, USERS_USAGE, type UsersIo } from './users-command.js';
