// derive.js — what the pages read off the loaded model, computed once per load
// instead of once per row: which teams hold each role, how many hold it (the
// server's counts in the role summaries), and the `teams_view` gate (decision
// rule 3: a team's roles count for a member only if the member holds
// `teams_view` through a directly assigned role, unless the workspace's
// `team_roles_require_teams_view` setting is off). Users come a page at a time
// (api.js usersPage), so the gate is worked out from a user and its direct
// assignments as the page brings them. The server decides; this only explains
// what the console shows.

/** Builds the indexes from the loaded lists; `now` decides which assignments are in force. */
export function buildIndex({ roles, assignments, settings }, now = Date.now()) {
  // Role summaries (GET /roles?view=summary) carry kind, whether the role grants
  // teams_view and, for a caller with users_view, who holds it (counts).
  const roleDefs = new Map(roles.map((r) => [r.key, r]));
  const viaTeams = new Map();
  for (const [t, list] of Object.entries(assignments.teams || {})) {
    for (const a of list) {
      const held = viaTeams.get(a.role);
      if (held) held.push([t, a.expires_at]); else viaTeams.set(a.role, [[t, a.expires_at]]);
    }
  }
  const inForce = (a) => !a.expires_at || Date.parse(a.expires_at) > now;
  const gateOn = settings?.team_roles_require_teams_view !== false;
  /** Whether the team roles of a user (`def`, with its direct assignments) count, and why not. */
  function teamRolesCount(def, direct) {
    if (!gateOn) return { counts: true };
    const kind = def?.kind || 'agent';
    const via = (direct || []).filter(inForce).map((a) => a.role).find((role) => {
      const r = roleDefs.get(role);
      return r && (r.kind || 'agent') === kind && r.teams_view;
    });
    return via ? { counts: true, via } : { counts: false };
  }
  return {
    gateOn,
    teamRolesCount,
    /** {users, teams: [[team, members]]} holding `role`, or null when the caller may not see holders. */
    holders: (role) => roleDefs.get(role)?.holders || null,
    /** Teams holding `role`: [[team, expires_at]]. */
    teams: (role) => viaTeams.get(role) || [],
  };
}
