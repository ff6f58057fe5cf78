// Decision dialogs: choosing a message template puts its text (already filled in for this request by the
// server) into the message field. Text the instructor typed is never replaced without asking.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-fills]");
  if (!select) return;
  const field = document.getElementById(select.dataset.fills);
  const option = select.selectedOptions[0];
  if (!field || !option || option.dataset.text === undefined) return;
  const typed = field.value.trim();
  const untouched = typed === "" || typed === (field.dataset.templateText || "").trim();
  if (!untouched && !window.confirm("Remplacer le message saisi par le texte du modèle ?")) return;
  field.value = option.dataset.text;
  field.dataset.templateText = option.dataset.text;
  field.dispatchEvent(new Event("input", { bubbles: true }));
});
