// derive.js — what the pages read off the loaded model, computed once per load
// instead of once per row: who holds each role (directly, and through which
// teams with which members), each team's members, and the `teams_view` gate
// (decision rule 3: a team's roles count for a member only if the member holds
// `teams_view` through a directly assigned role, unless the workspace's
// `team_roles_require_teams_view` setting is off). The server decides; this
// only explains what the console shows.

/** Builds the indexes from the loaded lists; `now` decides which assignments are in force. */
export function buildIndex({ roles, assignments, users, settings }, now = Date.now()) {
  // Role summaries (GET /roles?view=summary) carry kind and whether the role grants teams_view.
  const roleDefs = new Map(roles.map((r) => [r.key, r]));
  const directUsers = new Map();
  const viaTeams = new Map();
  const members = new Map();
  const push = (map, key, value) => { const list = map.get(key); if (list) list.push(value); else map.set(key, [value]); };
  for (const [u, list] of Object.entries(assignments.users || {})) {
    for (const a of list) push(directUsers, a.role, [u, a.expires_at]);
  }
  for (const [t, list] of Object.entries(assignments.teams || {})) {
    for (const a of list) push(viaTeams, a.role, [t, a.expires_at]);
  }
  for (const [u, def] of Object.entries(users || {})) {
    for (const t of def.teams || []) push(members, t, u);
  }
  const inForce = (a) => !a.expires_at || Date.parse(a.expires_at) > now;
  const gateOn = settings?.team_roles_require_teams_view !== false;
  const gate = new Map();
  /** Whether `user`'s team roles count, and why not when they do not. */
  function teamRolesCount(user) {
    if (!gateOn) return { counts: true };
    if (gate.has(user)) return gate.get(user);
    const kind = users?.[user]?.kind || 'agent';
    const via = (assignments.users?.[user] || []).filter(inForce).map((a) => a.role).find((role) => {
      const def = roleDefs.get(role);
      return def && (def.kind || 'agent') === kind && def.teams_view;
    });
    const answer = via ? { counts: true, via } : { counts: false };
    gate.set(user, answer);
    return answer;
  }
  return {
    gateOn,
    teamRolesCount,
    /** Users holding `role` directly: [[user, expires_at]]. */
    directUsers: (role) => directUsers.get(role) || [],
    /** Teams holding `role`: [[team, expires_at]]. */
    teams: (role) => viaTeams.get(role) || [],
    /** Members of `team`. */
    members: (team) => members.get(team) || [],
  };
}
