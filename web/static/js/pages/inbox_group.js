// The Groups tab: the user's groups (most recently active first, paged with
// the server's cursor) and a form to start one, beside the open group chat,
// all kept current by the user's message channel. The group chat is the
// chat pane of inbox_chat.js with a group as its source; its head adds the
// member count, "Add member" for the owner and "Leave" for the others.
import { h, clear, shortTime } from '../dom.js';
import { api } from '../api.js';
import { sameId, cmpId } from '../json.js';
import { save } from '../saved.js';
import { ChatPane } from './inbox_chat.js';
import { InboxList } from './inbox_list.js';

const PAGE_SIZE = 20;
// The server's limit on a group's name (im-group maxNameRune).
const MAX_NAME = 50;

// groupSource is the chat of a group the signed-in user is in.
export function groupSource(me, group) {
  group = String(group);
  const base = `/api/im/groups/${group}`;
  return {
    key: `group.${me.uid}.${group}`,
    title: `group ${group}`,
    dataset: { group },
    events: { msg: 'group-msg', recall: 'group-recall' },
    receipts: false,
    belongs: (m) => sameId(m.group_id, group),
    async fetch(q, signal) {
      return { items: (await api(`${base}/messages?${q}`, { signal })).items };
    },
    send: (text, clientId) => api(`${base}/messages`, { method: 'POST', body: { text, client_id: clientId } }),
    recall: (id) => api(`/api/im/group-messages/${id}/recall`, { method: 'POST' }),
    async markRead(id, signal) {
      return (await api(`${base}/read`, { method: 'POST', body: { read_id: id }, signal })).read_id;
    },
    recalled: ({ group_id: gid, id }) => (sameId(gid, group) ? id : null),
    setOpen(inbox, shown) {
      if (shown) inbox.openGroup = group;
      else if (sameId(inbox.openGroup, group)) inbox.openGroup = null;
    },
    author: (m) => `uid ${m.from}`,
  };
}

// parseUids reads user ids separated by commas or spaces; null when one is
// not a user id.
function parseUids(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (!parts.every((p) => /^\d{1,20}$/.test(p) && !/^0+$/.test(p))) return null;
  return [...new Set(parts.map((p) => p.replace(/^0+/, '')))];
}

export async function groupsView(section, { me, group }, { signal, navigate, inbox }) {
  const list = new GroupList({ me, inbox, signal, active: group || null });
  let chat = null;
  let tools = null;
  if (group) {
    tools = new GroupTools({ me, group, navigate, onChange: () => list.load() });
    chat = new ChatPane({ me, inbox, signal, source: groupSource(me, group), tools: tools.el });
  }
  list.onLeft = (gid) => {
    if (chat && sameId(gid, group)) {
      chat.close('You are no longer in this group.');
      tools.left();
    }
  };

  const name = h('input', {
    testid: 'group-name-input', maxlength: String(MAX_NAME), placeholder: 'group name',
    'aria-label': 'group name', autocomplete: 'off',
  });
  const members = h('input', {
    testid: 'group-members-input', inputmode: 'numeric', placeholder: 'member ids: 12, 15',
    'aria-label': 'member user ids', autocomplete: 'off',
  });
  const error = h('p', { class: 'form-error', testid: 'group-error', role: 'alert' });
  const create = h('button', { class: 'btn', type: 'submit', testid: 'group-create', text: 'New group' });
  const form = h('form', {
    class: 'group-new',
    testid: 'group-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const n = name.value.trim();
      const uids = parseUids(members.value);
      if (!n) {
        error.textContent = 'enter a group name';
        return;
      }
      if (!uids) {
        error.textContent = 'enter the members\' user ids (numbers)';
        return;
      }
      create.disabled = true;
      try {
        const g = await api('/api/im/groups', { method: 'POST', body: { name: n, members: uids.filter((u) => !sameId(u, me.uid)) } });
        name.value = '';
        members.value = '';
        navigate(`/inbox/groups/${g.id}`);
      } catch (err) {
        error.textContent = err.message;
      } finally {
        create.disabled = false;
      }
    },
  }, name, h('div', { class: 'row' }, members, create), error);

  section.append(h('div', { class: 'inbox-layout' },
    h('aside', { class: 'panel inbox-list-panel' }, form, list.el),
    chat ? chat.el : h('div', { class: 'panel inbox-empty muted', testid: 'chat-none',
      text: 'Pick a group, or start one with the user ids of its members.' })));

  // The list's first page comes with the inbox's one call (Inbox.opening).
  await Promise.all([list.load({ opening: inbox?.opening() }), chat?.load()]);
  if (chat && !signal.aborted) {
    const row = list.row(group);
    if (row) chat.setTitle(row.name);
    tools.show(row);
  }
  return () => {
    list.destroy();
    chat?.destroy();
  };
}

// GroupTools is the head of an open group chat: its member count, "Add
// member" for its owner, "Leave" for the others.
class GroupTools {
  el = h('div', { class: 'group-tools' });
  #me;
  #group;
  #navigate;
  #onChange;
  #count = h('span', { class: 'muted', testid: 'group-member-count' });
  #error = h('span', { class: 'form-error', testid: 'group-tools-error', role: 'alert' });
  #row = null;

  constructor({ me, group, navigate, onChange }) {
    this.#me = me;
    this.#group = String(group);
    this.#navigate = navigate;
    this.#onChange = onChange;
  }

  // show draws the tools for the group as the list has it (null: not in the
  // list shown, so whether I own it is not known; the server decides).
  show(row) {
    this.#row = row;
    if (row) this.#count.textContent = `${row.members} members`;
    const owner = row && sameId(row.owner, this.#me.uid);
    clear(this.el).append(this.#count, owner ? this.#addForm() : this.#leaveBtn(), this.#error);
  }

  // left leaves only the member count on screen.
  left() {
    clear(this.el).append(this.#count);
  }

  #addForm() {
    const uid = h('input', {
      testid: 'group-add-uid', inputmode: 'numeric', placeholder: 'user id', 'aria-label': 'user id to add',
      autocomplete: 'off',
    });
    const btn = h('button', { class: 'btn btn-small', type: 'submit', testid: 'group-add', text: 'Add member' });
    return h('form', {
      class: 'row',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const uids = parseUids(uid.value);
        if (!uids || uids.length === 0) {
          this.#error.textContent = 'enter a user id (a number)';
          return;
        }
        btn.disabled = true;
        try {
          const res = await api(`/api/im/groups/${this.#group}/members`, { method: 'POST', body: { uids } });
          uid.value = '';
          this.#error.textContent = '';
          if (this.#row) {
            this.#row.members = (Number(this.#row.members) || 0) + (Number(res.added) || 0);
            this.#count.textContent = `${this.#row.members} members`;
          }
          this.#onChange();
        } catch (err) {
          this.#error.textContent = err.message;
        } finally {
          btn.disabled = false;
        }
      },
    }, uid, btn);
  }

  #leaveBtn() {
    const btn = h('button', { class: 'btn btn-small btn-ghost', type: 'button', testid: 'group-leave', text: 'Leave' });
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        await api(`/api/im/groups/${this.#group}/members/${this.#me.uid}`, { method: 'DELETE' });
        this.#navigate('/inbox/groups');
      } catch (err) {
        this.#error.textContent = err.message;
        btn.disabled = false;
      }
    });
    return btn;
  }
}

// GroupList shows the signed-in user's groups and keeps them current from
// the channel's events.
class GroupList extends InboxList {
  el;
  onLeft = null; // called with a group's id when I am no longer in it
  #me;
  #active;
  #ul = h('ul', { class: 'conv-list', testid: 'group-list' });

  constructor({ me, inbox, signal, active }) {
    super({
      inbox, signal, noun: 'groups', module: 'groups', route: '/api/im/groups', pageSize: PAGE_SIZE,
      status: h('p', { class: 'muted', testid: 'group-status', text: 'Loading groups…' }),
      offline: h('p', { class: 'note-offline', testid: 'groups-offline', role: 'status', hidden: true }),
      more: h('button', { class: 'btn btn-small', type: 'button', testid: 'group-more', text: 'Load more', hidden: true }),
    });
    this.#me = me;
    this.#active = active;
    this.el = h('div', { class: 'conv-box' }, this.offline, this.status, this.#ul,
      h('div', { class: 'center' }, this.more));
    this.listen('group-msg', (m) => this.#onMsg(m));
    this.listen('group-join', (j) => { if (j.uids?.some((u) => sameId(u, this.#me.uid))) this.load(); });
    this.listen('group-leave', (l) => this.#onLeave(l));
    this.listen('group-read', (r) => this.#onRead(r));
    this.listen('group-recall', (r) => this.#onRecall(r));
    this.listen('state', (s) => { if (s === 'connected' && this.loaded) this.load(); });
  }

  get saveKey() { return `groups.${this.#me.uid}`; }

  // merge takes a group from the server unless the one shown is newer (a
  // live message the store had not written when the page was read).
  merge(g) {
    const key = String(g.id);
    const cur = this.rows.get(key);
    if (cur && cmpId(cur.last_id, g.last_id) > 0) {
      Object.assign(cur, { name: g.name, members: g.members, owner: g.owner });
      return;
    }
    this.rows.set(key, { ...g });
  }

  #onMsg(m) {
    const r = this.row(m.group_id);
    if (!r) {
      this.load(); // a group this list does not show yet
      return;
    }
    if (cmpId(m.id, r.last_id) <= 0) return;
    Object.assign(r, { last: m, last_id: m.id, mtime: m.ts });
    if (!sameId(m.from, this.#me.uid) && !sameId(m.group_id, this.#active)) r.unread = (Number(r.unread) || 0) + 1;
    this.render();
  }

  #onLeave({ group_id: gid, uid }) {
    if (!sameId(uid, this.#me.uid)) return;
    this.rows.delete(String(gid));
    this.render();
    this.onLeft?.(gid);
  }

  #onRead({ group_id: gid, read_id: readId }) {
    const r = this.row(gid);
    if (!r) return;
    r.read_id = readId;
    if (cmpId(readId, r.last_id) >= 0) r.unread = 0;
    else this.load(); // read up to a message before the last: let the server count
    this.render();
  }

  #onRecall({ group_id: gid, id }) {
    const r = this.row(gid);
    if (r?.last && sameId(r.last.id, id)) {
      r.last = { ...r.last, text: '', recalled: true };
      this.render();
    }
  }

  render() {
    const rows = [...this.rows.values()].sort((a, b) =>
      (Number(b.mtime) - Number(a.mtime)) || cmpId(b.id, a.id));
    clear(this.#ul).append(...rows.map((r) => this.#item(r)));
    this.status.textContent = rows.length === 0 && this.loaded ? 'No groups yet.' : '';
    this.more.hidden = !this.next;
    // What is shown is what a failed fetch shows later.
    if (this.loaded) save(this.saveKey, { items: rows, next: this.next });
  }

  #item(r) {
    const unread = Number(r.unread) || 0;
    const last = r.last;
    let preview = '';
    if (last) {
      const text = last.recalled ? 'message recalled' : last.text;
      preview = sameId(last.from, this.#me.uid) ? `You: ${text}` : `uid ${last.from}: ${text}`;
    }
    return h('li', {},
      h('a', {
        class: sameId(r.id, this.#active) ? 'conv active' : 'conv',
        href: `#/inbox/groups/${r.id}`,
        testid: 'group-item',
        dataset: { group: String(r.id), unread: String(unread), members: String(r.members) },
      },
      h('span', { class: 'conv-top' },
        h('span', { class: 'conv-name', testid: 'group-name', text: r.name }),
        h('span', { class: 'conv-muted', testid: 'group-members', text: `${r.members} members` }),
        h('span', { class: 'conv-time muted', text: r.mtime ? shortTime(r.mtime) : '' }),
        h('span', { class: 'nav-badge', testid: 'group-unread', hidden: unread <= 0, text: unread > 99 ? '99+' : String(unread) })),
      h('span', { class: 'conv-preview muted', testid: 'group-preview', text: preview })));
  }
}
