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
  if (directory.uid !== uid && directory.uid !== 0) return `its directory belongs to uid ${directory.uid}, who could replace it`;
  if ((directory.mode & 0o022) !== 0) {
    return `its directory is writable by ${(directory.mode & 0o002) === 0 ? 'its group' : 'other users'} (mode ${(directory.mode & 0o7777).toString(8)}), who could replace it`;
  }
  return undefined;
}
