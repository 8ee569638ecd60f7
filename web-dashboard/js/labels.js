// Names and badges of the domain's codes, in the current language.

import { h } from './dom.js';
import { t, localName } from './i18n.js';
import { state } from './state.js';
import { categoryColour } from './mapview.js';

export function categoryName(code) {
  return localName(state.categories.get(code)) || code;
}

export function deptName(code) {
  return localName(state.departments.get(code)) || code;
}

export function districtName(code) {
  return localName(state.districtNames.get(code)) || code || '';
}

/** gradeBadge shows an incident grade in its colour. */
export function gradeBadge(grade, long = false) {
  return h('span', { class: `grade grade-${grade}`, title: t(`grade.${grade}`) }, t(long ? `grade.${grade}` : `grade.short.${grade}`));
}

/** taskStateBadge shows a task's state. */
export function taskStateBadge(task) {
  return h('span', { class: `tstate tstate-${task.state}` }, t(`tstate.${task.state}`));
}

/** categoryChip shows a category with its map colour. */
export function categoryChip(code, count) {
  return h('span', { class: 'chip' },
    h('span', { class: 'swatch', style: `background:${categoryColour(code)}`, 'aria-hidden': 'true' }),
    categoryName(code), count !== undefined ? ` ${count}` : '');
}

/** isOpenTask reports whether a task still waits for its department. */
export function isOpenTask(task) {
  return ['dispatched', 'signed', 'in_progress', 'reopened'].includes(task.state);
}

/** isOverdue reports whether an open task is past its deadline (or signing deadline). */
export function isOverdue(task, now = Date.now()) {
  if (!isOpenTask(task)) return false;
  if (task.overdue) return true;
  const deadline = (task.state === 'dispatched' || task.state === 'reopened') ? task.sign_by : task.deadline;
  return new Date(task.deadline).getTime() < now || new Date(deadline).getTime() < now;
}

/** taskDeadline is the deadline that matters now: signing for before signing, else completing. */
export function taskDeadline(task) {
  return (task.state === 'dispatched' || task.state === 'reopened') ? task.sign_by : task.deadline;
}
