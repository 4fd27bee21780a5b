using System.Runtime.CompilerServices;

// Pure logic (layout, IMDS, DHCP arguments) is tested without root (STYLE.md §6).
[assembly: InternalsVisibleTo("Fathom.Lab.Tests")]
