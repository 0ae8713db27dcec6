// The targeting editor: which pods the workers capture (pod regex, namespaces), via /api/targeting.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const names = (text) => text.split(",").map((name) => name.trim()).filter(Boolean);

export class TargetingEditor {
  /** elements: {summary, edit, form, regex, namespaces, excluded, error}; onChange(body). */
  constructor(elements, onChange) {
    this.el = elements;
    this.onChange = onChange;
    elements.edit.addEventListener("click", () => this.open());
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    elements.form.addEventListener("reset", () => { elements.form.hidden = true; });
  }

  /** Load the current targeting; the editor stays hidden where the hub refuses it. */
  async load() {
    const response = await fetch("/api/targeting");
    if (!response.ok) return;
    this.body = await response.json();
    this.onChange(this.body);
    this.el.edit.hidden = false;
  }

  open() {
    const spec = this.body.spec;
    this.el.regex.value = spec.podRegex;
    this.el.namespaces.value = spec.namespaces.join(", ");
    this.el.excluded.value = spec.excludedNamespaces.join(", ");
    this.el.error.textContent = "";
    this.el.form.hidden = false;
    this.el.regex.focus();
  }

  async save() {
    const spec = {
      podRegex: this.el.regex.value.trim(),
      namespaces: names(this.el.namespaces.value),
      excludedNamespaces: names(this.el.excluded.value),
    };
    const response = await fetch("/api/targeting", {
      method: "PUT",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(spec),
    });
    const body = await response.json();
    if (!response.ok) {
      this.el.error.textContent = body.error?.message ?? `HTTP ${response.status}`;
      return;
    }
    this.body = body;
    this.onChange(body);
    this.el.form.hidden = true;
  }
}
