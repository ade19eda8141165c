// Whether the CLI may trust what listens at a control socket path. Its answers are printed and acted
// on, so the path must be a socket of the user running the command, in a directory that no other
// user can change (only this user or root owns it, no group or other write bit): otherwise another
// user could have put their own socket there, or could swap it. Pure: the caller lstat()s.

/** What is known of a path: `fs.Stats` fits. */
export interface PathFacts {
  uid: number;
  mode: number;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}

/** Why the socket cannot be trusted, in words for the error message; undefined when it can. */
export function untrustedReason(socket: PathFacts, directory: PathFacts, uid: number): string | undefined {
  if (socket.isSymbolicLink()) return 'it is a symbolic link';
  if (!socket.isSocket()) return 'it is not a socket';
  if (socket.uid !== uid) return `it belongs to uid ${socket.uid}, not to you (uid ${uid})`;
  if (directory.uid !== uid && directory.uid !== 0) {
    return `its directory belongs to uid ${directory.uid}, who could replace it`;
  }
  if ((directory.mode & 0o022) !== 0) {
    const who = (directory.mode & 0o002) === 0 ? 'its group' : 'other users';
    return `its directory is writable by ${who} (mode ${(directory.mode & 0o7777).toString(8)}), who could replace it`;
  }
  return undefined;
}

/** What is known of a directory: `fs.Stats` fits. */
export interface DirectoryFacts {
  uid: number;
  mode: number;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/**
 * Why the directory of named control sockets cannot be used, in words; undefined when it can: it must
 * be a real directory (not a link) of this user, mode 0700 (no group or other bits at all), so that
 * no other user can list, reach, add or swap the sockets in it.
 */
export function untrustedDirectoryReason(directory: DirectoryFacts, uid: number): string | undefined {
  if (directory.isSymbolicLink()) return 'it is a symbolic link';
  if (!directory.isDirectory()) return 'it is not a directory';
  if (directory.uid !== uid) return `it belongs to uid ${directory.uid}, not to you (uid ${uid})`;
  if ((directory.mode & 0o077) !== 0) return `its mode is ${(directory.mode & 0o7777).toString(8)}, not 700`;
  return undefined;
}
