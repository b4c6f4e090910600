// okrbot sandbox page: a small Slack-like client for the built-in Slack stand-in.
// Plain JS, no build. The server long-polls /sandbox/api/state; every click becomes a
// POST that the server turns into the signed request Slack would send to the bot.
"use strict";

const S = {
  user: localStorage.getItem("okrbot.user") || "U0ANA",
  conv: localStorage.getItem("okrbot.conv") || "C0GENERAL",
  version: -1,
  state: null,
  poll: null,
  payloadOpen: new Set(),
  modalKeys: [],
};

const EMOJI = {
  large_green_circle: "🟢", large_yellow_circle: "🟡", red_circle: "🔴", white_circle: "⚪",
  large_blue_circle: "🔵", warning: "⚠️", hourglass: "⌛", hourglass_flowing_sand: "⏳",
  bar_chart: "📊", chart_with_upwards_trend: "📈", chart_with_downwards_trend: "📉",
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", wave: "👋", rotating_light: "🚨",
  zzz: "💤", bell: "🔔", memo: "📝", dart: "🎯", calendar: "📅", wastebasket: "🗑️",
  pencil2: "✏️", eyes: "👀", tada: "🎉", repeat: "🔁", palm_tree: "🌴", mailbox_with_no_mail: "📭",
  arrow_up: "⬆️", arrow_down: "⬇️", arrow_right: "➡️", information_source: "ℹ️", gear: "⚙️",
  thumbsup: "👍", "+1": "👍", fire: "🔥", sparkles: "✨", no_entry: "⛔", pushpin: "📌",
  busts_in_silhouette: "👥", bust_in_silhouette: "👤", house: "🏠", clipboard: "📋",
  "00": "🕛", stopwatch: "⏱️", alarm_clock: "⏰", speech_balloon: "💬", link: "🔗",
};

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function escapeHtml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

// Slack escapes &, < and > in message text; keep those entities, escape anything else.
function safeSlackText(text) {
  return String(text).replace(/&(?!(amp|lt|gt);)/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function person(id) {
  return (S.state?.people || []).find((p) => p.id === id);
}

function me() {
  return person(S.user) || { id: S.user, name: S.user, tz: "UTC" };
}

function channelName(id) {
  const channel = (S.state?.channels || []).find((c) => c.id === id);
  return channel ? channel.name : id;
}

function toast(text) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.style.display = "block";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.style.display = "none"; }, 4000);
}

async function post(verb, body) {
  const response = await fetch(`/sandbox/api/${verb}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: S.user, ...body }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) toast(data.error || `HTTP ${response.status}`);
  return data;
}

// ------------------------------------------------------------------ dates and mrkdwn

function formatDate(seconds, format, link) {
  const date = new Date(seconds * 1000);
  const tz = me().tz || "UTC";
  const part = (options) => new Intl.DateTimeFormat("en-US", { timeZone: tz, ...options }).format(date);
  const ordinal = (n) => n + (["th", "st", "nd", "rd"][(n % 100 - 20) % 10] || ["th", "st", "nd", "rd"][n % 100] || "th");
  const day = Number(part({ day: "numeric" }));
  const dayKey = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(d);
  const now = new Date(S.state ? S.state.now : Date.now());
  const pretty = (fallback) => {
    const key = dayKey(date);
    if (key === dayKey(now)) return "Today";
    if (key === dayKey(new Date(now.getTime() - 864e5))) return "Yesterday";
    if (key === dayKey(new Date(now.getTime() + 864e5))) return "Tomorrow";
    return fallback;
  };
  const tokens = {
    date_num: dayKey(date),
    date: `${part({ month: "long" })} ${ordinal(day)}, ${part({ year: "numeric" })}`,
    date_short: part({ month: "short", day: "numeric", year: "numeric" }),
    date_long: `${part({ weekday: "long" })}, ${part({ month: "long" })} ${ordinal(day)}, ${part({ year: "numeric" })}`,
    time: part({ hour: "numeric", minute: "2-digit" }),
    time_secs: part({ hour: "numeric", minute: "2-digit", second: "2-digit" }),
    day_divider_pretty: part({ weekday: "long", month: "long", day: "numeric" }),
  };
  tokens.date_pretty = pretty(tokens.date);
  tokens.date_short_pretty = pretty(tokens.date_short);
  tokens.date_long_pretty = pretty(tokens.date_long);
  const diff = Math.round((now.getTime() - date.getTime()) / 60000);
  tokens.ago = diff < 1 ? "just now" : diff < 60 ? `${diff} minutes ago` : diff < 1440 ? `${Math.round(diff / 60)} hours ago` : `${Math.round(diff / 1440)} days ago`;
  const text = escapeHtml(format.replace(/\{(\w+)\}/g, (m, key) => tokens[key] ?? m));
  return link ? `<a href="${escapeHtml(link)}">${text}</a>` : `<span class="date" title="${escapeHtml(date.toISOString())}">${text}</span>`;
}

function renderToken(inner) {
  const [target, label] = inner.split("|", 2).concat([undefined]).slice(0, 2);
  if (target.startsWith("@")) {
    const who = person(target.slice(1));
    const name = who ? who.name : label || target.slice(1);
    return `<span class="mention" data-user="${escapeHtml(target.slice(1))}">@${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("#")) {
    const name = label || channelName(target.slice(1));
    return `<span class="mention">#${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [, seconds, format, link] = target.split("^");
    return formatDate(Number(seconds), format || "{date_short}", link);
  }
  if (target.startsWith("!subteam^")) return `<span class="mention">@${escapeHtml(label || "team")}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
  const url = target.replace(/&amp;/g, "&");
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${safeSlackText(label || target)}</a>`;
}

function inlineMrkdwn(text) {
  // Tokens first (they may contain * or _), then Slack's emphasis, emoji and line breaks.
  const saved = [];
  const keep = (html) => `\u0000${saved.push(html) - 1}\u0000`;
  let out = text.replace(/`([^`\n]+)`/g, (m, code) => keep(`<code>${safeSlackText(code)}</code>`));
  out = out.replace(/<([^<>\n]+)>/g, (m, inner) => keep(renderToken(inner)));
  out = safeSlackText(out);
  out = out.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, "$1<b>$2</b>");
  out = out.replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, "$1<i>$2</i>");
  out = out.replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/g, "$1<s>$2</s>");
  out = out.replace(/:([a-z0-9_+-]+):/g, (m, name) => (name in EMOJI ? EMOJI[name] : m));
  return out.replace(/\u0000(\d+)\u0000/g, (m, i) => saved[Number(i)]);
}

function mrkdwn(text) {
  const parts = String(text || "").split("```");
  return parts.map((part, index) => {
    if (index % 2 === 1) return `<pre class="code">${safeSlackText(part.replace(/^\n/, ""))}</pre>`;
    return part.split("\n").map((line) => {
      if (line.startsWith("&gt; ") || line.startsWith("> ")) {
        return `<blockquote>${inlineMrkdwn(line.replace(/^(&gt;|>) /, ""))}</blockquote>`;
      }
      return inlineMrkdwn(line);
    }).join("<br>").replace(/<\/blockquote><br>/g, "</blockquote>");
  }).join("");
}

function textObject(obj) {
  if (!obj) return "";
  if (obj.type === "mrkdwn") return mrkdwn(obj.text);
  const escaped = escapeHtml(obj.text);
  return obj.emoji === false ? escaped : escaped.replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m);
}

// ------------------------------------------------------------------ Block Kit

function imageSrc(block) {
  const file = block.slack_file;
  if (file) {
    if (file.id) return `/sandbox/files/${encodeURIComponent(file.id)}`;
    const match = /\/files\/(F[^/]+)\//.exec(file.url || "");
    if (match) return `/sandbox/files/${match[1]}`;
  }
  return block.image_url || "";
}

function button(element, ctx, blockId) {
  const style = element.style ? ` ${element.style}` : "";
  return el("button", {
    class: `bk-button${style}`,
    "data-action-id": element.action_id,
    onclick: (event) => {
      event.preventDefault();
      if (element.url) window.open(element.url, "_blank", "noopener");
      if (element.confirm && !window.confirm(`${element.confirm.title?.text || ""}\n${element.confirm.text?.text || ""}`)) return;
      act(ctx, { action_id: element.action_id, block_id: blockId, type: "button", value: element.value });
    },
  }, el("span", { html: textObject(element.text) }));
}

function optionsOf(element) {
  const groups = element.option_groups || [];
  return (element.options || []).concat(...groups.map((g) => g.options || []));
}

function staticSelect(element, ctx, blockId, { input } = {}) {
  const select = el("select", {
    "data-action-id": element.action_id,
    "data-block-id": blockId,
    "data-type": element.type,
  });
  select.append(el("option", { value: "" }, element.placeholder ? element.placeholder.text : "Choose…"));
  for (const option of optionsOf(element)) {
    const selected = element.initial_option && element.initial_option.value === option.value;
    select.append(el("option", { value: option.value, selected }, option.text.text));
  }
  if (!input) {
    select.addEventListener("change", () => {
      const option = optionsOf(element).find((o) => o.value === select.value);
      if (option) act(ctx, { action_id: element.action_id, block_id: blockId, type: "static_select", selected_option: option });
    });
  }
  return select;
}

function overflow(element, ctx, blockId) {
  const wrap = el("span", { class: "bk-overflow" });
  const menu = el("div", { class: "bk-overflow-menu", hidden: true });
  for (const option of element.options || []) {
    menu.append(el("button", {
      onclick: (event) => {
        event.preventDefault();
        menu.hidden = true;
        act(ctx, { action_id: element.action_id, block_id: blockId, type: "overflow", selected_option: option });
      },
    }, option.text.text));
  }
  wrap.append(el("button", { class: "bk-button", title: "More actions", "data-action-id": element.action_id, onclick: (e) => { e.preventDefault(); menu.hidden = !menu.hidden; } }, "⋯"), menu);
  return wrap;
}

function element(element, ctx, blockId) {
  switch (element.type) {
    case "button": return button(element, ctx, blockId);
    case "static_select": return staticSelect(element, ctx, blockId);
    case "overflow": return overflow(element, ctx, blockId);
    case "image": return el("img", { src: element.image_url || imageSrc(element), alt: element.alt_text, class: "bk-accessory-image", width: 64 });
    default: return el("span", { class: "bk-unknown" }, `[${element.type}]`);
  }
}

function inputElement(input, blockId) {
  const common = { "data-block-id": blockId, "data-action-id": input.action_id, "data-type": input.type };
  const placeholder = input.placeholder ? input.placeholder.text : "";
  switch (input.type) {
    case "plain_text_input":
      return input.multiline
        ? el("textarea", { ...common, rows: 3, placeholder, maxlength: input.max_length }, input.initial_value || "")
        : el("input", { ...common, placeholder, value: input.initial_value || "", maxlength: input.max_length });
    case "number_input":
      return el("input", { ...common, inputmode: "decimal", placeholder, value: input.initial_value || "", "data-decimal": input.is_decimal_allowed ? "1" : "0" });
    case "static_select":
      return staticSelect(input, null, blockId, { input: true });
    default:
      return el("span", { class: "bk-unknown" }, `[${input.type} input]`);
  }
}

function renderBlock(block, ctx) {
  const blockId = block.block_id;
  switch (block.type) {
    case "header":
      return el("div", { class: "bk-header", html: textObject(block.text) });
    case "section": {
      const body = el("div", { class: "bk-body" });
      if (block.text) body.append(el("div", { class: "bk-text", html: textObject(block.text) }));
      if (block.fields) body.append(el("div", { class: "bk-fields" }, block.fields.map((f) => el("div", { html: textObject(f) }))));
      const node = el("div", { class: "bk-section", "data-block-id": blockId }, body);
      if (block.accessory) node.append(el("div", { class: "bk-accessory" }, element(block.accessory, ctx, blockId)));
      return node;
    }
    case "context":
      return el("div", { class: "bk-context" }, (block.elements || []).map((e) => (e.type === "image"
        ? el("img", { src: e.image_url || imageSrc(e), alt: e.alt_text })
        : el("span", { html: textObject(e) }))));
    case "divider":
      return el("hr", { class: "bk-divider" });
    case "actions":
      return el("div", { class: "bk-actions", "data-block-id": blockId }, (block.elements || []).map((e) => element(e, ctx, blockId)));
    case "image":
      return el("figure", { class: "bk-image" },
        block.title ? el("div", { class: "title", html: textObject(block.title) }) : null,
        el("img", { src: imageSrc(block), alt: block.alt_text || "" }));
    case "input": {
      const error = ctx.errors ? ctx.errors[blockId] : undefined;
      return el("div", { class: `bk-input${error ? " has-error" : ""}`, "data-block-id": blockId },
        el("label", {}, el("span", { html: textObject(block.label) }), block.optional ? el("span", { class: "optional" }, " (optional)") : null),
        inputElement(block.element, blockId),
        block.hint ? el("div", { class: "bk-hint", html: textObject(block.hint) }) : null,
        error ? el("div", { class: "bk-error" }, error) : null);
    }
    case "rich_text":
      return el("div", { class: "bk-rich" }, (block.elements || []).map((section) => el("div", {
        html: (section.elements || []).map((e) => (e.type === "text" ? safeSlackText(e.text) : e.type === "user" ? renderToken(`@${e.user_id}`) : e.type === "link" ? renderToken(`${e.url}|${e.text || e.url}`) : "")).join(""),
      })));
    default:
      return el("div", { class: "bk-unknown" }, `[unsupported block ${block.type}]`);
  }
}

function renderBlocks(blocks, ctx) {
  return el("div", { class: "bk" }, (blocks || []).map((b) => renderBlock(b, ctx)));
}

// ------------------------------------------------------------------ interactions

function viewState(root) {
  const values = {};
  for (const node of root.querySelectorAll("[data-block-id][data-action-id][data-type]")) {
    const block = node.dataset.blockId;
    const action = node.dataset.actionId;
    const type = node.dataset.type;
    let entry;
    if (type === "static_select") {
      const view = findView(root.dataset.viewId);
      const option = view ? findOption(view.blocks, block, action, node.value) : null;
      entry = { type, selected_option: option };
    } else {
      entry = { type, value: node.value === "" ? null : node.value };
    }
    (values[block] = values[block] || {})[action] = entry;
  }
  return values;
}

function findView(viewId) {
  const modal = (S.state?.modals || []).find((m) => m.view.id === viewId);
  if (modal) return modal.view;
  return S.state?.home && S.state.home.id === viewId ? S.state.home : null;
}

function findOption(blocks, blockId, actionId, value) {
  for (const block of blocks || []) {
    if (block.block_id !== blockId) continue;
    const candidates = [block.element, block.accessory, ...(block.elements || [])].filter(Boolean);
    for (const candidate of candidates) {
      if (candidate.action_id === actionId) return optionsOf(candidate).find((o) => o.value === value) || null;
    }
  }
  return null;
}

async function act(ctx, action) {
  const body = { action };
  if (ctx.view_id) {
    body.view_id = ctx.view_id;
    const root = document.querySelector(`[data-view-id="${ctx.view_id}"]`);
    if (root) body.state = viewState(root);
  } else {
    Object.assign(body, { channel: ctx.channel, ts: ctx.ts, ephemeral: !!ctx.ephemeral });
  }
  await post("action", body);
}

// ------------------------------------------------------------------ rendering the page

function renderSidebar() {
  const state = S.state;
  const who = document.getElementById("whoami");
  const options = state.people.filter((p) => p.id !== state.bot_user_id);
  const wanted = options.map((p) => `${p.id}:${p.name}:${p.tz}`).join("|");
  if (who.dataset.key !== wanted) {
    who.dataset.key = wanted;
    who.replaceChildren(...options.map((p) => el("option", { value: p.id, selected: p.id === S.user }, `${p.name} — ${p.tz}${p.is_admin ? " (admin)" : ""}`)));
  }
  who.value = S.user;
  document.getElementById("channel-list").replaceChildren(...state.channels.map((c) => convLink(c.id, `# ${c.name}`)));
  document.getElementById("dm-list").replaceChildren(convLink(state.dm, "okrbot"));
  for (const link of document.querySelectorAll(".conv")) link.classList.toggle("active", link.dataset.conv === S.conv);
}

function convLink(id, label) {
  return el("a", { href: "#", class: "conv", "data-conv": id }, label);
}

function renderClock() {
  const state = S.state;
  const now = new Date(state.now);
  const tz = me().tz || "UTC";
  const local = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }).format(now);
  const ahead = state.offset_seconds > 0 ? ` · ${formatOffset(state.offset_seconds)} ahead of real time` : "";
  document.getElementById("clock-now").textContent = `${local} (${tz})${ahead}`;
}

function formatOffset(seconds) {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return [days ? `${days}d` : "", hours ? `${hours}h` : "", minutes && !days ? `${minutes}m` : ""].filter(Boolean).join(" ") || "<1m";
}

function renderMessage(message, channel) {
  const fromBot = message.user === S.state.bot_user_id || message.bot_id;
  const who = fromBot ? "okrbot" : (person(message.user)?.name || message.user);
  const ctx = { channel, ts: message.ts, ephemeral: message.ephemeral };
  const key = `${channel}:${message.ts}`;
  const time = new Intl.DateTimeFormat("en-GB", { timeZone: me().tz || "UTC", hour: "2-digit", minute: "2-digit" }).format(new Date(Number(message.ts) * 1000));
  const payload = { text: message.text, blocks: message.blocks };
  if (message.metadata) payload.metadata = message.metadata;
  const pre = el("pre", { class: "payload", hidden: !S.payloadOpen.has(key) }, JSON.stringify(payload, null, 2));
  const content = el("div", { class: "content" },
    el("div", { class: "meta" },
      el("span", { class: "who" }, who),
      fromBot ? el("span", { class: "app" }, "APP") : null,
      el("span", { class: "time" }, time),
      message.ephemeral ? el("span", { class: "eph-note" }, " · Only visible to you") : null,
      message.edited ? el("span", { class: "edited" }, " (edited)") : null,
      el("button", { class: "payload-toggle", title: "Show the payload (paste it into Block Kit Builder)", onclick: () => {
        if (S.payloadOpen.has(key)) S.payloadOpen.delete(key); else S.payloadOpen.add(key);
        pre.hidden = !S.payloadOpen.has(key);
      } }, "payload")),
    message.blocks && message.blocks.length
      ? renderBlocks(message.blocks, ctx)
      : el("div", { class: "bk-text", html: mrkdwn(message.text) }),
    (message.files || []).map((f) => el("figure", { class: "bk-image" }, el("img", { src: `/sandbox/files/${f.id}`, alt: f.title || f.name }))),
    pre);
  return el("div", { class: `msg${message.ephemeral ? " ephemeral" : ""}`, "data-ts": message.ts, "data-channel": channel },
    el("div", { class: `avatar${fromBot ? " bot" : ""}` }, who.slice(0, 1).toUpperCase()), content);
}

function renderConversation() {
  const pane = document.getElementById("pane");
  const messages = S.state.messages[S.conv] || [];
  const roots = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const replies = {};
  for (const m of messages) if (m.thread_ts && m.thread_ts !== m.ts) (replies[m.thread_ts] = replies[m.thread_ts] || []).push(m);
  const stick = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const nodes = roots.map((root) => {
    const node = renderMessage(root, S.conv);
    const thread = replies[root.ts];
    if (thread) {
      node.querySelector(".content").append(el("div", { class: "thread" },
        el("div", { class: "thread-count" }, `${thread.length} ${thread.length === 1 ? "reply" : "replies"}`),
        thread.map((r) => renderMessage(r, S.conv))));
    }
    return node;
  });
  pane.replaceChildren(...(nodes.length ? nodes : [el("div", { class: "empty" }, "No messages yet. Try /okr help.")]));
  if (stick) pane.scrollTop = pane.scrollHeight;
}

function renderHome() {
  const pane = document.getElementById("pane");
  const home = S.state.home;
  if (!home) {
    pane.replaceChildren(el("div", { class: "home-empty" }, "Opening the Home tab…"));
    return;
  }
  const root = el("div", { class: "home", "data-view-id": home.id });
  root.append(renderBlocks(home.blocks, { view_id: home.id }));
  root.append(el("div", { class: "meta" }, el("button", { class: "payload-toggle", onclick: () => { pre.hidden = !pre.hidden; } }, "payload")));
  const pre = el("pre", { class: "payload", hidden: true }, JSON.stringify({ type: "home", blocks: home.blocks }, null, 2));
  root.append(pre);
  pane.replaceChildren(root);
}

function renderModals() {
  const container = document.getElementById("modals");
  const modals = S.state.modals || [];
  const keys = modals.map((m) => `${m.view.id}:${m.view.hash}:${JSON.stringify(m.errors)}`);
  if (JSON.stringify(keys) === JSON.stringify(S.modalKeys)) return;
  // Keep what the person typed when only the errors changed.
  const typed = {};
  for (const node of container.querySelectorAll("[data-block-id][data-action-id][data-type]")) {
    typed[`${node.closest("[data-view-id]").dataset.viewId}/${node.dataset.blockId}/${node.dataset.actionId}`] = node.value;
  }
  S.modalKeys = keys;
  container.replaceChildren(...modals.slice(-1).map(({ view, errors }) => {
    const form = el("form", { class: "modal", "data-view-id": view.id, "data-callback-id": view.callback_id,
      onsubmit: async (event) => {
        event.preventDefault();
        await post("submit", { view_id: view.id, values: viewState(form) });
      } },
    el("div", { class: "modal-title" }, el("span", { html: textObject(view.title) }),
      el("button", { type: "button", class: "close-x", title: "Close", onclick: () => post("close", { view_id: view.id }) }, "×")),
    el("div", { class: "modal-body" }, renderBlocks(view.blocks, { view_id: view.id, errors }),
      errors[""] ? el("div", { class: "bk-error" }, errors[""]) : null),
    el("div", { class: "modal-foot" },
      el("button", { type: "button", class: "cancel", onclick: () => post("close", { view_id: view.id }) }, view.close ? view.close.text : "Cancel"),
      view.submit ? el("button", { type: "submit", class: "submit" }, view.submit.text) : null));
    for (const node of form.querySelectorAll("[data-block-id][data-action-id][data-type]")) {
      const saved = typed[`${view.id}/${node.dataset.blockId}/${node.dataset.actionId}`];
      if (saved !== undefined) node.value = saved;
    }
    return el("div", { class: "overlay" }, form);
  }));
}

function render() {
  if (!S.state) return;
  renderSidebar();
  renderClock();
  const title = document.getElementById("conv-title");
  if (S.conv === "home") {
    title.textContent = "okrbot · Home";
    renderHome();
  } else {
    title.textContent = S.conv.startsWith("D") ? "okrbot (direct message)" : `# ${channelName(S.conv)}`;
    renderConversation();
  }
  renderModals();
  document.getElementById("composer").disabled = S.conv === "home";
}

// ------------------------------------------------------------------ polling and events

async function pollLoop() {
  for (;;) {
    const controller = new AbortController();
    S.poll = controller;
    try {
      const response = await fetch(`/sandbox/api/state?user=${encodeURIComponent(S.user)}&version=${S.version}`, { signal: controller.signal });
      if (response.ok) {
        const data = await response.json();
        S.state = data;
        S.version = data.version;
        if (S.conv !== "home" && !(S.conv in data.messages)) S.conv = data.channels[0]?.id || data.dm;
        render();
      } else {
        await new Promise((r) => setTimeout(r, 1000));
      }
    } catch (error) {
      if (error.name !== "AbortError") await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function refresh() {
  S.version = -1;
  S.modalKeys = [];
  if (S.poll) S.poll.abort();
}

function openConversation(id) {
  S.conv = id;
  localStorage.setItem("okrbot.conv", id);
  if (id === "home") post("home", {});
  render();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest(".conv");
  if (link) {
    event.preventDefault();
    openConversation(link.dataset.conv);
  }
});

document.getElementById("whoami").addEventListener("change", (event) => {
  S.user = event.target.value;
  localStorage.setItem("okrbot.user", S.user);
  if (S.conv.startsWith("D")) S.conv = `D${S.user}`;
  refresh();
  if (S.conv === "home") post("home", {});
});

document.getElementById("composer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("composer");
  const text = input.value.trim();
  if (!text || S.conv === "home") return;
  input.value = "";
  if (text.startsWith("/")) await post("command", { channel: S.conv, text });
  else await post("message", { channel: S.conv, text });
});

for (const id of ["clock-hour", "clock-day", "clock-monday"]) {
  document.getElementById(id).addEventListener("click", async (event) => {
    event.target.disabled = true;
    try { await post("clock", { step: event.target.dataset.step }); } finally { event.target.disabled = false; }
  });
}

document.getElementById("incident").addEventListener("click", async () => {
  await post("incident", {});
  toast("Signups collapsed: watch #growth");
});

document.getElementById("add-person-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("new-name").value;
  const tz = document.getElementById("new-tz").value;
  const result = await post("people", { name, tz });
  document.getElementById("add-person-error").textContent = result.error || "";
  if (!result.error) {
    S.user = result.id;
    localStorage.setItem("okrbot.user", S.user);
    document.getElementById("new-name").value = "";
    refresh();
  }
});

if (S.conv === "home") post("home", {});
pollLoop();
