namespace Fathom.Cni;
