namespace Fathom.Lab;
